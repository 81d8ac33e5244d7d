// Go-style flags (`-name value`, `-name=value`, `--name`), as the rest of the project takes them.

struct FlagError: Error, CustomStringConvertible {
    let description: String
}

/// The options of every mode; each mode reads the ones it needs.
struct Options {
    var addresses: [String] = ["127.0.0.1:8046"]
    var connections = 64
    var readers = 0                 // extra connections doing GETs beside -op's (not for watch)
    var pipeline = 1
    var op = "get"                  // set | get | mixed | watch
    var readRatio = 0.9             // for mixed
    var valueSize = 64
    var keys = 1000
    var duration = 10.0             // seconds; ignored when count > 0
    var count = 0                   // measured operations; 0 = use duration
    var warmup = 1.0                // seconds
    var watchers = 100
    var writers = 1
    var rate = 10_000.0             // writes/s across the writers (watch)
    var watchPipeline = 1           // WAITs outstanding per watcher
    var writerWindow = 256          // SETs a paced writer may have in flight
    var prefill = true              // SET every key once before a get/mixed run
    var label = ""
    // local / memory
    var doozerd = "../.build/release/doozerd"
    var nodes = 0                   // 0: the mode's default (local 1, cluster 3, catchup 1)
    var firstMember = 0             // cluster: the member the round-robin starts at
    var slaves = 1                  // cluster: nodes attached as slaves besides the members
    var hist = 2000
    var dataParent: String?         // local: run a durable node in a fresh folder under this one
    var noFile: UInt64 = 65_536
    var snapshotEvery: Int?         // recovery: the node's -snapshotevery (its default if unset)
    var files = -1                  // -1: the mode's default (memory 1,000,000, catchup 50,000)
    var idle = 10_000
    var minRev: Int64 = 57
    var quiet = false
    var keepLogs = false
    // TLS: the client side trusts tlsCA; local and cluster also start their nodes with the pair
    var tlsCA: String?
    var tlsCert: String?
    var tlsKey: String?
    // local, cluster: the nodes' -peerkey file
    var peerKey: String?
}

func usage() -> String {
    """
    usage: doozer-bench run   [-a host:port[,host:port…]] [flags]   load any doozer server
           doozer-bench local [-doozerd path] [flags]               start one doozerd, load it, stop it
           doozer-bench memory [-doozerd path] [-files n] [-idle n] doozerd RSS: n files, n idle connections
           doozer-bench cluster [-nodes n] [-slaves n] [flags]      start and form a cluster on 127.0.0.1…,
                                                                    load its members, stop it
           doozer-bench catchup [-nodes n] [-files n] [flags]       load a cluster, then time a fresh
                                                                    doozerd -a until it serves every file
           doozer-bench recovery [-data dir] [-files n] [flags]     fill a durable node, SIGKILL it, time
                                                                    its restart until it serves again

    flags:
      -a addrs        server addresses, connections spread round-robin (run)   [127.0.0.1:8046]
                      cluster ignores it: round-robin over the members it formed, and with
                      -op watch the watchers on the slaves
      -c n            client connections                                         [64]
      -readers n      extra connections looping GET beside the -op ones, reported
                      apart (reads while writes wait for their sync)             [0]
      -p n            requests outstanding per connection (1 = no pipelining)     [1]
      -op name        set | get | mixed | watch                                  [get]
      -read f         read ratio for -op mixed                                   [0.9]
      -size n         value size in bytes                                        [64]
      -keys n         key space (/bench/k<i>)                                    [1000]
      -d secs         measured duration                                          [10]
      -n ops          measured operations instead of a duration                  [0]
      -warmup secs    warm-up before measuring                                   [1]
      -prefill bool   SET every key once before get/mixed                        [true]
      -watchers n     watch: connections each looping WAIT on /**                 [100]
      -writers n      watch: writer connections                                  [1]
      -rate n         watch: writes per second across the writers                [10000]
      -wp n           watch: WAITs outstanding per watcher (consecutive revs)     [1]
      -ww n           watch: SETs in flight per writer (the pace is -rate)       [256]
      -label s        free text copied into the JSON line
      -doozerd path   doozerd binary (local, memory, cluster, catchup, recovery)           [../.build/release/doozerd]
      -nodes n        members: local 1 only; cluster 3; catchup 1                [mode's]
      -slaves n       cluster: slaves attached besides the members               [1]
      -first k        cluster: connections start at member k (0 = the seed)     [0]
      -hist n         doozerd -hist                                              [2000]
      -data dir       local, cluster, recovery: durable nodes (doozerd -data), each in a fresh folder
                      under dir, removed after (recovery: /tmp if unset)
      -snapshotevery n  recovery: the node's -snapshotevery                     [doozerd's]
      -nofile n       RLIMIT_NOFILE for the bench and the doozerd it starts      [65536]
      -minrev n       local: wait until the node answers REV >= n                [57]
      -files n        memory, catchup, recovery: files of -size bytes to load    [1000000, 50000]
      -idle n         memory: idle connections to open                           [10000]
      -q              no progress lines on stderr
      -tlsca file     connect over TLS, trusting these CA certificates (PEM)
      -tlscert file, -tlskey file
                      local, cluster, catchup, recovery: start the nodes with this pair (TLS on
                      their client ports; with -tlsca for their own connections to each other)
      -peerkey file   local, cluster, catchup, recovery: start the nodes with this peer key file
      -keeplogs       keep the node logs (/tmp/doozer-bench-<pid>-<port>.log) after a run
                      that succeeded; a failed run always keeps them
    """
}

func parseFlags(_ args: ArraySlice<String>) throws(FlagError) -> Options {
    var o = Options()
    var rest = args
    func value(_ name: String, _ inline: String?) throws(FlagError) -> String {
        if let inline { return inline }
        guard let next = rest.popFirst() else { throw FlagError(description: "flag needs an argument: -\(name)") }
        return next
    }
    func int(_ name: String, _ text: String) throws(FlagError) -> Int {
        guard let v = Int(text.replacingUnderscores), v >= 0 else { throw FlagError(description: "invalid value \"\(text)\" for flag -\(name)") }
        return v
    }
    func double(_ name: String, _ text: String) throws(FlagError) -> Double {
        guard let v = Double(text), v >= 0 else { throw FlagError(description: "invalid value \"\(text)\" for flag -\(name)") }
        return v
    }
    while let arg = rest.popFirst() {
        guard arg.hasPrefix("-"), arg.count > 1 else { throw FlagError(description: "unexpected argument \"\(arg)\"") }
        var name = String(arg.drop { $0 == "-" })
        var inline: String? = nil
        if let eq = name.firstIndex(of: "=") {
            inline = String(name[name.index(after: eq)...])
            name = String(name[..<eq])
        }
        switch name {
        case "a": o.addresses = try value(name, inline).split(separator: ",").map(String.init)
        case "c": o.connections = try int(name, value(name, inline))
        case "readers": o.readers = try int(name, value(name, inline))
        case "p": o.pipeline = max(1, try int(name, value(name, inline)))
        case "op":
            o.op = try value(name, inline)
            guard ["set", "get", "mixed", "watch"].contains(o.op) else { throw FlagError(description: "unknown -op \(o.op)") }
        case "read": o.readRatio = min(1, try double(name, value(name, inline)))
        case "size": o.valueSize = try int(name, value(name, inline))
        case "keys": o.keys = max(1, try int(name, value(name, inline)))
        case "d": o.duration = try double(name, value(name, inline))
        case "n": o.count = try int(name, value(name, inline))
        case "warmup": o.warmup = try double(name, value(name, inline))
        case "prefill":
            let v = try value(name, inline)
            guard let b = Bool(v) else { throw FlagError(description: "invalid value \"\(v)\" for flag -prefill") }
            o.prefill = b
        case "watchers": o.watchers = try int(name, value(name, inline))
        case "writers": o.writers = max(1, try int(name, value(name, inline)))
        case "rate": o.rate = try double(name, value(name, inline))
        case "wp": o.watchPipeline = max(1, try int(name, value(name, inline)))
        case "ww": o.writerWindow = max(1, try int(name, value(name, inline)))
        case "label": o.label = try value(name, inline)
        case "doozerd": o.doozerd = try value(name, inline)
        case "nodes": o.nodes = max(1, try int(name, value(name, inline)))
        case "slaves": o.slaves = try int(name, value(name, inline))
        case "first": o.firstMember = try int(name, value(name, inline))
        case "hist": o.hist = try int(name, value(name, inline))
        case "data": o.dataParent = try value(name, inline)
        case "nofile": o.noFile = UInt64(try int(name, value(name, inline)))
        case "minrev": o.minRev = Int64(try int(name, value(name, inline)))
        case "files": o.files = try int(name, value(name, inline))
        case "snapshotevery": o.snapshotEvery = try int(name, value(name, inline))
        case "idle": o.idle = try int(name, value(name, inline))
        case "q": o.quiet = true
        case "keeplogs": o.keepLogs = true
        case "tlsca": o.tlsCA = try value(name, inline)
        case "tlscert": o.tlsCert = try value(name, inline)
        case "tlskey": o.tlsKey = try value(name, inline)
        case "peerkey": o.peerKey = try value(name, inline)
        case "h", "help": throw FlagError(description: usage())
        default: throw FlagError(description: "flag provided but not defined: -\(name)")
        }
    }
    return o
}

extension String {
    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
