import Dispatch
import DoozerClient
import DoozerDurability
import DoozerConsensus
import DoozerSnapshot
import DoozerStore
import DoozerSystem
import DoozerTLS
import DoozerWire
import Logging

/// What a node that attached to a running cluster starts from: the store and the consensus
/// state at one revision R of the member it attached to (B8: installed *as* R), and that
/// member, its first upstream.
package struct JoinedCluster {
    package let snapshot: Snapshot
    package let bootstrap: Bootstrap
    package let memberID: [UInt8]
    package let memberAddress: String
}

/// Why attaching failed; one line for the log.
package struct AttachError: Error, CustomStringConvertible {
    package let description: String
    /// No address could be reached (nothing listened, no route, a failed dial or handshake):
    /// trying again later may succeed. False once something answered and refused (another
    /// cluster's name, not a member's address, a bad state, a listener that does not speak
    /// doozer).
    package var noAnswer = false

    package init(description: String, noAnswer: Bool = false) {
        self.description = description
        self.noAnswer = noAnswer
    }
}

/// SIGINT or SIGTERM came while the node was still starting (waiting for `-a` to answer).
public struct StartupInterrupted: Error, CustomStringConvertible {
    public let signal: Int32
    package init(signal: Int32) { self.signal = signal }
    public var description: String { "signal \(signal) while waiting to attach: not started" }
}

/// The joiner's start-up (§5.3, §5.4), run before the node serves anything: find a member
/// among the `-a` addresses (CAL check), record this node in the cluster through it, then
/// copy its state in one consistent transfer (B27, L2): a consensus bootstrap and the
/// lz4-compressed snapshot of the store at R, unit by unit (one unit in flight, so the
/// member's client port is never flooded). Blocking, with bounded waits; never used once the
/// event loop runs.
package enum Attach {
    /// How long the CAL check may take over all addresses (the original gave up after 1 s).
    package static let checkBudget: Duration = .seconds(2)

    /// §5.1: the cluster this node joins — through `-a`, else through the DzNS of `-b` — or nil
    /// when it seeds a new one (neither given, or it won the DzNS election).
    /// `pause` waits between attempts, and throws when the process is asked to stop meanwhile.
    package static func locate(configuration: Configuration, id: NodeID, boundAddress: SocketAddress, logger: Logger,
                               pause: (Duration) throws(StartupInterrupted) -> Void) throws -> JoinedCluster? {
        var attachFailure: (any Error)? = nil
        if !configuration.attachAddresses.isEmpty {
            // Nodes may start in any order: while no address answers, try again (backing off
            // to 2 s) for -attachwait, saying so once. With -b the DzNS is the fallback instead.
            let wait: Duration = configuration.bootURI == nil ? .nanoseconds(configuration.attachWait) : .zero
            let giveUp = ContinuousClock.now + wait
            var delay: Duration = .milliseconds(100)
            var said = false
            while true {
                do {
                    return try join(addresses: configuration.attachAddresses, configuration: configuration, id: id,
                                    boundAddress: boundAddress)
                } catch {
                    guard error.noAnswer, ContinuousClock.now + delay < giveUp else {
                        attachFailure = error
                        break
                    }
                    if !said {
                        said = true
                        logger.notice("\(error); trying again for up to \(wait) (-attachwait)")
                    }
                    try pause(delay)
                    delay = min(delay * 2, .seconds(2))
                }
            }
        }
        guard let uri = configuration.bootURI else {
            if let attachFailure { throw attachFailure }
            return nil
        }
        if let attachFailure { logger.notice("\(attachFailure); booting through the DzNS") }
        switch try Boot.run(uri: uri, configuration: configuration, id: id, boundAddress: boundAddress, logger: logger) {
        case .seed: return nil
        case .joined(let cluster): return cluster
        }
    }

    package static func join(addresses: [String], configuration: Configuration, id: NodeID,
                     boundAddress: SocketAddress) throws(AttachError) -> JoinedCluster {
        let deadline = ContinuousClock.now + checkBudget
        var reasons: [String] = []
        var refused = false   // a doozerd answered and said no
        for address in addresses {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            do {
                _ = try DoozerConnection.host(of: address)
            } catch {
                refused = true   // not an address: no retry mends it
                reasons.append("\(address): \(error)")
                continue
            }
            do {
                let connection = try DoozerConnection.dial(address, timeout: remaining, tls: try configuration.outboundTLS())
                defer { connection.close() }
                // Something that accepts TCP but never answers (not a doozerd) must not hold
                // start-up: past the budget the connection is closed and its calls fail.
                let watchdog = DispatchWorkItem { connection.close() }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(remaining / .milliseconds(1)) + 1),
                                                  execute: watchdog)
                if !configuration.readWriteSecret.isEmpty { try connection.access(configuration.readWriteSecret) }
                let member = try calCheck(connection, address: address, clusterName: configuration.clusterName)
                try register(connection, id: id, boundAddress: boundAddress)
                watchdog.cancel()
                let (snapshot, bootstrap) = try copyState(connection)
                return JoinedCluster(snapshot: snapshot, bootstrap: bootstrap, memberID: member, memberAddress: address)
            } catch let error as AttachError {
                refused = true
                reasons.append("\(address): \(error.description)")
            } catch DoozerError.closed where ContinuousClock.now >= deadline {
                refused = true   // something listens there, and it does not speak doozer
                reasons.append("\(address): no doozer answer within \(checkBudget) (is it a member's client address?)")
            } catch {
                reasons.append("\(address): \(error)")
            }
        }
        if reasons.isEmpty { reasons.append("no address answered within \(checkBudget)") }
        throw AttachError(description: "failed to attach: " + reasons.joined(separator: "; "), noAnswer: !refused)
    }

    /// §5.3: the cluster's name matches, and the dialled address is a member's recorded one.
    /// Returns that member's id.
    private static func calCheck(_ c: DoozerConnection, address: String, clusterName: String) throws -> [UInt8] {
        let name = try c.get("/ctl/name").body
        guard name == Array(clusterName.utf8) else {
            throw AttachError(description: "cluster is named \(String(decoding: name, as: UTF8.self)), not \(clusterName)")
        }
        let rev = try c.rev()
        for slot in try c.getdir("/ctl/cal", rev: rev) {
            let member = try c.get("/ctl/cal/\(slot)", rev: rev).body
            guard !member.isEmpty else { continue }
            let recorded = try c.get("/ctl/node/\(String(decoding: member, as: UTF8.self))/addr", rev: rev).body
            if recorded == Array(address.utf8) { return member }
        }
        throw AttachError(description: "not a member's address (use the address the member records in /ctl/node/<id>/addr)")
    }

    /// §5.4 step 1: this node's `addr`, `hostname` and `version`, through the cluster.
    private static func register(_ c: DoozerConnection, id: NodeID, boundAddress: SocketAddress) throws {
        let node = "/ctl/node/\(id)/"
        _ = try c.set(node + "addr", rev: -1, body: Array(boundAddress.description.utf8))
        _ = try c.set(node + "hostname", rev: -1, body: Array((ProcessEnvironment.hostName() ?? "unknown").utf8))
        _ = try c.set(node + "version", rev: -1, body: Array(Configuration.version.utf8))
    }

    /// Copies the state of the node at `address` (for a node that fell behind what its peers
    /// keep). Blocking: for a background thread.
    package static func copyState(from address: String, configuration: Configuration) throws -> (Snapshot, Bootstrap) {
        let connection = try DoozerConnection.dial(address, timeout: .seconds(2), tls: try configuration.outboundTLS())
        defer { connection.close() }
        if !configuration.readWriteSecret.isEmpty { try connection.access(configuration.readWriteSecret) }
        return try copyState(connection)
    }

    /// Copies the member's state at one revision R: unit 0 pins R and carries the consensus
    /// bootstrap, the rest is the snapshot stream. If R leaves the member's history before
    /// the copy ends (TOO_LATE), it starts again at a newer R instead of giving up (B27).
    private static func copyState(_ c: DoozerConnection) throws -> (Snapshot, Bootstrap) {
        var bootstrap: Bootstrap? = nil
        var reader = SnapshotReader()
        let rev: Int64
        do {
            rev = try c.copySnapshot(begin: { _, bytes in
                do throws(PeerCodec.DecodeError) {
                    bootstrap = try PeerCodec.decodeBootstrap(bytes)
                } catch {
                    throw AttachError(description: "bad consensus state from the member: \(error.reason) at byte \(error.offset)")
                }
                reader = SnapshotReader()
            }, unit: { bytes in try reader.feed(bytes) })
        } catch DoozerError.server(code: .tooLate, _) {
            throw AttachError(description: "the member's history moved past every snapshot started")
        }
        let snapshot = try reader.finish()
        guard let bootstrap, snapshot.rev == rev else {
            throw AttachError(description: "snapshot is of rev \(snapshot.rev), expected \(rev)")
        }
        return (snapshot, bootstrap)
    }
}

extension Configuration {
    /// The TLS context of this node's connections to other nodes, nil when it speaks plain TCP.
    package func outboundTLS() throws(DoozerError) -> TLSContext? {
        do {
            return try tls?.outboundContext()
        } catch {
            throw .connection("tls: \(error)")
        }
    }
}
