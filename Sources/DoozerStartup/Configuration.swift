import DoozerFlags
import DoozerSystem
import DoozerTLS
import DoozerWire
import Logging

/// Everything a node is started with, validated. A value: building one has no effects.
public struct Configuration: Sendable {
    /// The server's version string, recorded in `/ctl/node/<id>/version`.
    public static let version = "0.9.0-swift"

    /// Client TCP address, peer UDP address and the node's identity.
    public var listenAddress: SocketAddress
    public var clusterName = "local"
    /// Members to attach to (`-a`), tried in order; empty for a seed.
    public var attachAddresses: [String] = []
    /// The DzNS to boot through (`-b` or `DOOZER_BOOT_URI`), tried after `-a`.
    public var bootURI: String?
    /// A snapshot file (`doozer snapshot save`) a new single-node cluster starts from, at its
    /// revision (`-restore`); nil for an empty store. Never combined with `-a` or `-b`.
    public var restorePath: String?
    /// The data directory (`-data`) that makes this node durable; nil for memory-only. With
    /// `-a` or `-b`, a durable slave or member (restarted, it rejoins by itself); with
    /// `-restore`, a new directory seeded from the file.
    public var dataPath: String?
    /// A durable node writes a snapshot and compacts its log after this many decided
    /// records (`-snapshotevery`) or this many bytes of log (`-snapshotbytes`), whichever
    /// comes first.
    public var snapshotRecords = 100_000
    public var snapshotBytes = 64 << 20
    /// Revisions of history kept (`-hist`).
    public var history = 2000
    /// Interval between `applied` writes, in nanoseconds (`-pulse`).
    public var pulseInterval: Int64 = 1_000_000_000
    /// `-fill`, accepted for compatibility: with a stable leader no revision is left unowned,
    /// so there is nothing to fill (membership changes are brought into effect at once).
    public var fillDelay: Int64 = 100_000_000
    /// Silence after which the leader removes a member or a slave, in nanoseconds (`-timeout`).
    public var memberTimeout: Int64 = 60_000_000_000
    /// The log level (`-loglevel`); SIGUSR1 raises it while the node runs.
    public var logLevel: Logger.Level = .info
    /// How long `-a` keeps trying while no address can be reached (nobody listens yet, no
    /// route), in nanoseconds (`-attachwait`; 0: one attempt). Not with `-b`: there a failed
    /// attach boots through the DzNS at once.
    public var attachWait: Int64 = 30_000_000_000
    /// Largest mutation a write may carry (`-maxwrite`): what the peer transport replicates in
    /// one message with room for the batch around it; larger writes are refused (B3).
    public var maxWrite = 4 << 20
    /// The ceiling of `-maxwrite`: bounded by the transport's largest message (16 MiB) and
    /// the leader's bytes in flight, which a promise may have to report.
    public static let maxWriteLimit = 8 << 20
    /// Largest request payload accepted; a longer frame closes its connection (`-maxframe`).
    public var maxFrame = Framing.defaultMaxFrame
    /// Client connections served at once (`-maxconns`); a new one past it is closed at once.
    public var maxConnections = 16_384
    /// WAITs and reads of future revisions one client connection may have pending
    /// (`-maxwaits`); past it, more are answered with an error.
    public var maxWaits = 10_000
    /// Longest path a SET or DEL may name, in bytes (`-maxpath`); longer ones are answered
    /// BAD_PATH before anything is proposed. Reads take any path a frame can carry.
    public var maxPath = 4096
    /// Longest glob a WAIT or WALK may carry, in bytes (`-maxglob`); longer ones are answered
    /// OTHER before anything is matched.
    public var maxGlob = 4096
    /// Bytes of history kept (`-histbytes`): events, their bodies and what undoes them. The
    /// oldest revisions go first when either this or `history` is exceeded; the newest
    /// revision is always kept.
    public var historyBytes = 256 << 20
    /// Web view address; nil when turned off with `-w false`.
    public var webAddress: SocketAddress?
    /// Web connections open at once (`-webconns`); at the limit a new one displaces the oldest
    /// connection still sending its request head, or is closed when there is none.
    public var webMaxConnections = 256
    /// Web connections open at once from one client address (`-webperclient`).
    public var webMaxPerClient = 32
    /// Time a web connection has to send its whole request head, in nanoseconds (`-webheadtimeout`).
    public var webHeadTimeout: Int64 = 5_000_000_000
    public var readWriteSecret: [UInt8] = []
    public var readOnlySecret: [UInt8] = []
    /// TLS on the client port (`-tlscert`, `-tlskey`, `-tlsclientca`); nil for plain TCP.
    public var tls: TLSFiles?
    /// The peer key file (`-peerkey`): every peer datagram and stream record is sealed with
    /// its first key and checked against its keys; nil: the peer network is trusted.
    public var peerKeyPath: String?
    /// Time a new client connection has to finish its TLS handshake, in nanoseconds (`-tlstimeout`).
    public var tlsHandshakeTimeout: Int64 = 10_000_000_000

    public init(listenAddress: SocketAddress) {
        self.listenAddress = listenAddress
    }
}

/// The PEM files of the client port's TLS: read when the node starts and again on SIGHUP.
public struct TLSFiles: Sendable, Equatable {
    public var certificate: String
    public var key: String
    /// CA certificates client certificates are verified against; nil: none asked for.
    public var clientCA: String?
    /// CA certificates this node trusts when it connects to other nodes' client ports (attach,
    /// state copies, peer streams); nil: the system's.
    public var peerCA: String?

    public init(certificate: String, key: String, clientCA: String? = nil, peerCA: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.clientCA = clientCA
        self.peerCA = peerCA
    }

    /// The context of this node's own connections to other nodes: TLS, trusting `peerCA`,
    /// presenting this node's certificate (which members with `-tlsclientca` verify).
    public func outboundContext() throws(TLSError) -> TLSContext {
        try TLSContext.client(caFile: peerCA, certificate: certificate, key: key)
    }
}

/// What `doozerd`'s command line asked for.
public enum Invocation {
    case run(Configuration)
    case printVersion
    case printUsage
}

/// A command line that cannot be run, with the exit status it deserves.
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    /// 2 for malformed flags (the usage text follows), 1 for values that parse but cannot work.
    public let status: Int32
    public let showUsage: Bool
}

/// `doozerd`'s flags (spec §6.2), their parsing and their validation.
public enum DoozerdCommandLine {
    package static func flagSet() -> FlagSet {
        var flags = FlagSet()
        flags.suggestsNearest = true
        flags.define("l", .string, placeholder: "addr", default: "127.0.0.1:8046",
                     usage: "The address to bind to: client TCP, peer UDP and the node's identity. Must be a concrete address.")
        flags.define("a", .repeated, placeholder: "addr",
                     usage: "Attach to the member at this address (repeatable), as it records itself in /ctl/node/<id>/addr.")
        flags.define("b", .string, placeholder: "uri",
                     usage: "Boot through this DzNS cluster URI (tried after -a); defaults to $DOOZER_BOOT_URI.")
        flags.define("restore", .string, placeholder: "file",
                     usage: "Start a new single-node cluster from this snapshot file (doozer snapshot save), keeping its revisions. Not with -a or -b.")
        flags.define("data", .string, placeholder: "dir",
                     usage: "Keep this node's log and snapshots in this directory (created if missing) so it survives a restart with its id, slot and data; restarted with it, a node of a cluster rejoins by itself (-a, -b not needed). Give every member its own: durability needs every member durable. With -restore, a new directory seeded from the file.")
        flags.define("snapshotevery", .string, placeholder: "records", default: "100000",
                     usage: "With -data: write a snapshot and compact the log after this many decided batches.")
        flags.define("snapshotbytes", .string, placeholder: "bytes", default: "\(64 << 20)",
                     usage: "With -data: write a snapshot and compact the log after this many bytes of log, if that comes first.")
        flags.define("c", .string, placeholder: "name", default: "local",
                     usage: "The cluster name: letters, digits, '.' and '-'.")
        flags.define("w", .string, placeholder: "addr",
                     usage: "Web view (HTTP) address; 'false' turns it off.")
        flags.define("webconns", .string, placeholder: "n", default: "256",
                     usage: "Most web view connections open at once.")
        flags.define("webperclient", .string, placeholder: "n", default: "32",
                     usage: "Most web view connections open at once from one client address.")
        flags.define("webheadtimeout", .string, placeholder: "seconds", default: "5",
                     usage: "Seconds a web view connection has to send its request head.")
        flags.define("v", .boolean, usage: "Print doozerd's version and exit.")
        flags.define("pulse", .string, placeholder: "seconds", default: "1",
                     usage: "Seconds between writes of /ctl/node/<id>/applied.")
        flags.define("fill", .string, placeholder: "seconds", default: "0.1",
                     usage: "Accepted for compatibility; a stable leader leaves no revision to fill.")
        flags.define("timeout", .string, placeholder: "seconds", default: "60",
                     usage: "Seconds of silence after which a member or slave is removed.")
        flags.define("loglevel", .string, placeholder: "level", default: "info",
                     usage: "Least severe log lines written: trace, debug, info, notice, warning, error or critical. SIGUSR1 raises it to debug, and sets it back.")
        flags.define("attachwait", .string, placeholder: "seconds", default: "30",
                     usage: "Seconds -a keeps trying while no address can be reached (0: once), so nodes may start in any order.")
        flags.define("hist", .string, placeholder: "revisions", default: "2000",
                     usage: "Revisions of history to keep for reads and waits in the past.")
        flags.define("histbytes", .string, placeholder: "bytes", default: "\(256 << 20)",
                     usage: "Bytes of history to keep (events, values and what undoes them); the oldest revisions go first.")
        flags.define("maxpath", .string, placeholder: "bytes", default: "4096",
                     usage: "Longest path a SET or DEL may name; longer ones are answered BAD_PATH.")
        flags.define("maxglob", .string, placeholder: "bytes", default: "4096",
                     usage: "Longest glob a WAIT or WALK may carry; longer ones are answered OTHER.")
        flags.define("maxwrite", .string, placeholder: "bytes", default: "\(4 << 20)",
                     usage: "Largest write (path and value) the cluster replicates; larger ones are refused with an error. At most 8 MiB.")
        flags.define("maxframe", .string, placeholder: "bytes", default: "\(Framing.defaultMaxFrame)",
                     usage: "Largest request frame accepted; a longer one closes its connection.")
        flags.define("maxconns", .string, placeholder: "count", default: "16384",
                     usage: "Client connections served at once; a new one past this is closed at once (and logged).")
        flags.define("maxwaits", .string, placeholder: "count", default: "10000",
                     usage: "WAITs and reads of future revisions one client connection may have pending; more are refused with an error.")
        flags.define("tlscert", .string, placeholder: "file",
                     usage: "TLS certificate chain (PEM, leaf first) for the client port, which then speaks only TLS 1.2 or 1.3. Needs -tlskey. SIGHUP reloads both for new connections.")
        flags.define("tlskey", .string, placeholder: "file",
                     usage: "TLS private key (PEM) for -tlscert.")
        flags.define("peerkey", .string, placeholder: "file",
                     usage: "The cluster's peer key file: one or two keys in hex (at least 32 digits each), one per line; the first seals every peer datagram and stream record (HMAC-SHA256), either is accepted. Every node of the cluster needs it. SIGHUP reloads it.")
        flags.define("tlstimeout", .string, placeholder: "seconds", default: "10",
                     usage: "With -tlscert: time a new client connection has to finish its TLS handshake before it is closed.")
        flags.define("tlsca", .string, placeholder: "file",
                     usage: "With -tlscert: CA certificates (PEM) this node trusts when it connects to other nodes (attach, peer streams), which it does over TLS presenting -tlscert; default: the system's.")
        flags.define("tlsclientca", .string, placeholder: "file",
                     usage: "With -tlscert: CA certificates (PEM) that client certificates are verified against; a client that presents one that verifies has read-write rights without a secret. Clients may still connect without one.")
        return flags
    }

    /// The usage text printed for `-h` and flag errors.
    public static func usage(programName: String) -> String {
        """
        Usage: \(programName) [OPTIONS]

        Options:
        \(flagSet().usageText)

        The default for -w is the IP of -l with port 8000; '-w false' turns the web view off. When a
        secret is set, the web view asks for the read secret (as the HTTP Basic password or ?token=).
        Environment: DOOZER_RWSECRET and DOOZER_ROSECRET set the read-write and read-only secrets;
        DOOZER_BOOT_URI is the default for -b.

        """
    }

    public static func parse(_ arguments: [String], environment: [String: String]) throws(UsageError) -> Invocation {
        var flags = flagSet()
        do {
            try flags.parse(arguments)
        } catch {
            throw UsageError(description: error.description, status: 2, showUsage: true)
        }
        if flags.helpRequested { return .printUsage }
        if flags.flag("v") { return .printVersion }
        if let extra = flags.positional.first {
            throw UsageError(description: "unexpected argument \"\(extra)\"", status: 2, showUsage: true)
        }
        func fail(_ text: String) -> UsageError { UsageError(description: text, status: 1, showUsage: false) }

        let listen = flags.value("l") ?? "127.0.0.1:8046"
        if listen.isEmpty { throw UsageError(description: "require a listen address", status: 1, showUsage: true) }
        let tlsCertificate = flags.value("tlscert") ?? "", tlsKey = flags.value("tlskey") ?? ""
        let tlsClientCA = flags.value("tlsclientca") ?? "", tlsPeerCA = flags.value("tlsca") ?? ""
        if !tlsCertificate.isEmpty || !tlsKey.isEmpty {
            guard !tlsCertificate.isEmpty, !tlsKey.isEmpty else {
                throw UsageError(description: "need both cert file and key file (-tlscert and -tlskey)", status: 2, showUsage: false)
            }
        } else if !tlsClientCA.isEmpty || !tlsPeerCA.isEmpty {
            throw UsageError(description: "\(tlsClientCA.isEmpty ? "-tlsca" : "-tlsclientca") needs -tlscert and -tlskey", status: 2, showUsage: false)
        }

        var configuration: Configuration
        do {
            configuration = Configuration(listenAddress: try SocketAddress.resolve(listen))
        } catch {
            throw fail("bad -l address \(error)")
        }
        let name = flags.value("c") ?? "local"
        guard !name.isEmpty, name.utf8.allSatisfy(isNameByte) else {
            throw fail("bad cluster name \"\(name)\" (-c): use one or more of A-Z a-z 0-9 . -")
        }
        if let path = flags.value("peerkey"), !path.isEmpty { configuration.peerKeyPath = path }
        if !tlsCertificate.isEmpty {
            configuration.tls = TLSFiles(certificate: tlsCertificate, key: tlsKey,
                                         clientCA: tlsClientCA.isEmpty ? nil : tlsClientCA,
                                         peerCA: tlsPeerCA.isEmpty ? nil : tlsPeerCA)
        }
        configuration.clusterName = name
        configuration.attachAddresses = flags.all("a")
        if let boot = flags.value("b") ?? environment["DOOZER_BOOT_URI"], !boot.isEmpty {
            configuration.bootURI = boot
        }
        if let restore = flags.value("restore") {
            guard !restore.isEmpty else { throw UsageError(description: "-restore needs a file", status: 2, showUsage: true) }
            if !configuration.attachAddresses.isEmpty || configuration.bootURI != nil {
                let other = configuration.attachAddresses.isEmpty ? "-b (or DOOZER_BOOT_URI)" : "-a"
                throw UsageError(description: "-restore starts a new cluster: it cannot be combined with \(other)",
                                 status: 2, showUsage: true)
            }
            configuration.restorePath = restore
        }
        if let data = flags.value("data") {
            guard !data.isEmpty else { throw UsageError(description: "-data needs a directory", status: 2, showUsage: true) }
            configuration.dataPath = data
        }
        configuration.pulseInterval = try seconds(flags, "pulse", default: 1, positive: true)
        configuration.fillDelay = try seconds(flags, "fill", default: 0.1, positive: false)
        configuration.memberTimeout = try seconds(flags, "timeout", default: 60, positive: true)
        configuration.attachWait = try seconds(flags, "attachwait", default: 30, positive: false)
        if let text = flags.value("loglevel") {
            guard let level = Logger.Level(rawValue: text) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw UsageError(description: "invalid value \"\(text)\" for -loglevel: want one of \(names)", status: 2, showUsage: true)
            }
            configuration.logLevel = level
        }
        configuration.history = try integer(flags, "hist", default: 2000, minimum: 1)
        configuration.historyBytes = try integer(flags, "histbytes", default: 256 << 20, minimum: 0)
        configuration.maxPath = try integer(flags, "maxpath", default: 4096, minimum: 64, maximum: 1 << 30)
        configuration.maxGlob = try integer(flags, "maxglob", default: 4096, minimum: 64, maximum: 1 << 30)
        configuration.maxFrame = try integer(flags, "maxframe", default: Framing.defaultMaxFrame,
                                             minimum: 64, maximum: 1 << 30)
        configuration.maxWrite = try integer(flags, "maxwrite", default: 4 << 20, minimum: 64,
                                             maximum: Configuration.maxWriteLimit)
        configuration.maxConnections = try integer(flags, "maxconns", default: 16_384, minimum: 1)
        configuration.maxWaits = try integer(flags, "maxwaits", default: 10_000, minimum: 1)
        configuration.snapshotRecords = try integer(flags, "snapshotevery", default: 100_000, minimum: 1)
        configuration.snapshotBytes = try integer(flags, "snapshotbytes", default: 64 << 20, minimum: 1)

        switch flags.value("w") {
        case "false"?:
            configuration.webAddress = nil
        case let text? where !text.isEmpty:
            // B17: only "false" turns it off; anything else (even "true") is an address.
            do {
                configuration.webAddress = try SocketAddress.resolve(text)
            } catch {
                throw fail("bad -w address \(error)")
            }
        default:
            configuration.webAddress = configuration.listenAddress.withPort(8000)
        }
        configuration.webMaxConnections = try integer(flags, "webconns", default: 256, minimum: 1, maximum: 1 << 20)
        configuration.webMaxPerClient = try integer(flags, "webperclient", default: 32, minimum: 1, maximum: 1 << 20)
        configuration.webHeadTimeout = try seconds(flags, "webheadtimeout", default: 5, positive: true)
        configuration.tlsHandshakeTimeout = try seconds(flags, "tlstimeout", default: 10, positive: true)
        configuration.readWriteSecret = Array((environment["DOOZER_RWSECRET"] ?? "").utf8)
        configuration.readOnlySecret = Array((environment["DOOZER_ROSECRET"] ?? "").utf8)
        return .run(configuration)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    private static func seconds(_ flags: FlagSet, _ name: String, default fallback: Double, positive: Bool) throws(UsageError) -> Int64 {
        guard let text = flags.value(name) else { return Int64(fallback * 1e9) }
        // Positive intervals must be at least a millisecond: the loop's timers are no finer.
        guard let value = Double(text), value.isFinite, positive ? value >= 0.001 : value >= 0, value < 1e9 else {
            throw UsageError(description: "invalid value \"\(text)\" for -\(name): want \(positive ? "at least 0.001 " : "")seconds",
                             status: 2, showUsage: true)
        }
        return Int64(value * 1e9)
    }

    private static func integer(_ flags: FlagSet, _ name: String, default fallback: Int, minimum: Int,
                                maximum: Int = Int.max) throws(UsageError) -> Int {
        guard let text = flags.value(name) else { return fallback }
        guard let value = Int(text), value >= minimum, value <= maximum else {
            let range = maximum == Int.max ? "≥ \(minimum)" : "from \(minimum) to \(maximum)"
            throw UsageError(description: "invalid value \"\(text)\" for -\(name): want an integer \(range)",
                             status: 2, showUsage: true)
        }
        return value
    }
}
