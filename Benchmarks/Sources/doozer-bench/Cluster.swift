// `cluster` and `catchup`: N local doozerd formed into a cluster the way users form one (the
// seed, then `-a` joiners started in parallel as slaves, then empty `/ctl/cal/<n>` slots for
// the slaves to claim), a workload over it, everything stopped at the end.
import DoozerClient
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

final class LocalCluster {
    let o: Options
    /// Every node started, in start order: the seed on 127.0.0.1, the joiners on .2, .3, ….
    private(set) var nodes: [LocalNode] = []
    /// Members by slot (slot 0, the seed, first) and the slaves, once formed.
    private(set) var members: [LocalNode] = []
    private(set) var slaves: [LocalNode] = []
    /// The revision at which every member had written `writable`.
    private(set) var formedRev: Int64 = 0
    private(set) var formSeconds = 0.0

    init(_ o: Options) { self.o = o }

    var seed: LocalNode { nodes[0] }

    /// Each node's data directory (`-data` given: durable nodes, removed at `stopAll`).
    private var dataDirectories: [String] = []

    /// Starts a node on 127.0.0.<index> (attached to the seed unless it is the first); with
    /// `-data`, durable in a fresh folder of its own under that directory.
    @discardableResult
    func start(_ index: Int) throws -> LocalNode {
        var extra = nodes.isEmpty ? [] : ["-a", seed.address.description]
        if let parent = o.dataParent {
            let directory = "\(parent)/doozer-bench-\(getpid())-node\(index)"
            dataDirectories.append(directory)
            extra += ["-data", directory]
        }
        let node = try LocalNode(binary: o.doozerd, ip: "127.0.0.\(index)", hist: o.hist, extra: extra)
        nodes.append(node)
        return node
    }

    /// Starts the seed, then `memberCount - 1 + slaveCount` joiners at once, opens
    /// `/ctl/cal/1…` and waits (WAIT on `/ctl/**` at the seed) until every slot is claimed and
    /// every member has written `writable`, then until every node has applied that revision.
    func form(memberCount: Int, slaveCount: Int) throws {
        let t0 = ProcessEnvironment.monotonicNanoseconds()
        try start(1)
        _ = try seed.waitReady(minRev: 1)
        for i in 0 ..< memberCount - 1 + slaveCount { try start(2 + i) }
        for node in nodes.dropFirst() { _ = try node.waitReady(minRev: 1) }
        let c = try dial(seed)
        defer { c.close() }
        for slot in 1 ..< max(1, memberCount) {
            _ = try c.set("/ctl/cal/\(slot)", rev: 0, body: [])
        }
        let rev = try waitFormed(c, memberCount: memberCount)
        formedRev = rev
        // Who is who: slot bodies are node ids, /ctl/node/<id>/addr their addresses.
        let byAddress = Dictionary(uniqueKeysWithValues: nodes.map { ($0.address.description, $0) })
        var memberAddresses: [String] = []
        for slot in try c.walk("/ctl/cal/*", rev: rev).sorted(by: { slotNumber($0.path) < slotNumber($1.path) }) {
            let id = String(decoding: slot.body, as: UTF8.self)
            memberAddresses.append(String(decoding: try c.get("/ctl/node/\(id)/addr", rev: rev).body, as: UTF8.self))
        }
        members = memberAddresses.compactMap { byAddress[$0] }
        slaves = nodes.filter { n in !members.contains { $0 === n } }
        guard members.count == memberCount else {
            throw FlagError(description: "members \(memberAddresses) are not all nodes this bench started")
        }
        try waitApplied(rev, on: nodes)
        formSeconds = Double(ProcessEnvironment.monotonicNanoseconds() - t0) / 1e9
    }

    /// Waits, a WAIT on `/ctl/**` at the seed per change, until `memberCount` slots are claimed
    /// and as many members have written `writable`; returns that revision.
    private func waitFormed(_ c: DoozerConnection, memberCount: Int) throws -> Int64 {
        let deadline = ProcessEnvironment.monotonicNanoseconds() + 30_000_000_000
        var rev = try c.rev()
        while true {
            let claimed = try c.walk("/ctl/cal/*", rev: rev).filter { !$0.body.isEmpty }.count
            let writable = try c.walk("/ctl/node/*/writable", rev: rev).count
            if claimed == memberCount && writable == memberCount { return rev }
            let left = deadline - ProcessEnvironment.monotonicNanoseconds()
            if left <= 0 {
                let logs = "/tmp/doozer-bench-\(getpid())-*.log"
                throw FlagError(description: "cluster not formed in 30 s: \(claimed)/\(memberCount) slots claimed, \(writable) writable; logs in \(logs)")
            }
            let event: DoozerEvent? = try? c.wait("/ctl/**", rev: rev + 1, timeout: .nanoseconds(left))
            if let event { rev = event.rev } else { rev = try c.rev() }
        }
    }

    /// Waits (WAIT at `rev` on each node: answered once the node has applied it) until every
    /// node in `on` has applied `rev`.
    func waitApplied(_ rev: Int64, on: [LocalNode], timeout: Duration = .seconds(30)) throws {
        for node in on {
            let c = try dial(node)
            defer { c.close() }
            _ = try c.wait("/**", rev: rev, timeout: timeout)
        }
    }

    func dial(_ node: LocalNode) throws -> DoozerConnection {
        try DoozerConnection.dial(node.address.description, timeout: .seconds(5), tls: benchTLS)
    }

    /// Stops every node (SIGTERM, in reverse start order) and reports each one's exit status
    /// and the peer traffic it logged at shutdown.
    func stopAll() -> Report {
        var r = Report()
        var totals: [String: Int] = [:]
        for node in nodes.reversed() {
            let status = node.stop()
            var n = Report()
            n.add("role", members.contains { $0 === node } ? "member" : "slave")
            n.add("exit_status", Int(status))
            if let traffic = peerTraffic(node.log()) {
                for (k, v) in traffic {
                    n.add(k, v)
                    if k != "decided" { totals[k, default: 0] += v }
                }
            }
            r.add(node.address.description, n)
        }
        for directory in dataDirectories { removeTree(directory) }
        dataDirectories = []
        if !totals.isEmpty {
            var t = Report()
            for k in ["datagrams_sent", "bytes_sent", "send_calls", "messages_sent", "dropped"] { t.add(k, totals[k] ?? 0) }
            r.add("all_nodes", t)
        }
        return r
    }
}

/// The `peer traffic:` line doozerd logs at shutdown, as numbers by key.
func peerTraffic(_ log: String) -> [(String, Int)]? { shutdownCounters("peer traffic:", in: log) }

/// The `key=value` numbers of the last line of `log` that contains `label`.
func shutdownCounters(_ label: String, in log: String) -> [(String, Int)]? {
    guard let line = log.split(separator: "\n").last(where: { $0.contains(label) }) else { return nil }
    return line.split(separator: " ").compactMap { word in
        let kv = word.split(separator: "=", maxSplits: 1)
        guard kv.count == 2, let v = Int(kv[1]) else { return nil }
        return (String(kv[0]), v)
    }
}

private func slotNumber(_ path: String) -> Int { Int(path.split(separator: "/").last ?? "") ?? .max }

/// UDP counters of this network namespace (/proc/net/snmp): every process in it, so exact for
/// the bench's own traffic only when it runs in a namespace of its own (`unshare -n`).
struct UDPCounters {
    var inDatagrams = 0, outDatagrams = 0, receiveBufferErrors = 0, sendBufferErrors = 0

    static func read() -> UDPCounters {
        var c = UDPCounters()
        let lines = (readFile("/proc/net/snmp") ?? "").split(separator: "\n").filter { $0.hasPrefix("Udp: ") }
        guard lines.count >= 2 else { return c }
        let names = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
        for (k, v) in zip(names, values) {
            switch k {
            case "InDatagrams": c.inDatagrams = Int(v) ?? 0
            case "OutDatagrams": c.outDatagrams = Int(v) ?? 0
            case "RcvbufErrors": c.receiveBufferErrors = Int(v) ?? 0
            case "SndbufErrors": c.sendBufferErrors = Int(v) ?? 0
            default: break
            }
        }
        return c
    }

    /// Whether this process runs in a network namespace with loopback only (as `unshare -n`
    /// makes), so that no other process's datagrams are counted.
    static var ownNamespace: Bool {
        let interfaces = (readFile("/proc/net/dev") ?? "").split(separator: "\n").dropFirst(2)
            .compactMap { $0.split(separator: ":").first?.trimmingSpaces }
        return interfaces == ["lo"]
    }
}

extension Substring {
    var trimmingSpaces: Substring { drop { $0 == " " } }
}

/// The UDP datagrams sent while `body` ran, per revision the cluster made meanwhile.
func measuringUDP(_ revAddress: SocketAddress, _ body: () throws -> Void) throws -> Report {
    let rev0 = (try? blockingRequest(revAddress, verb: V.rev).rev) ?? 0
    let u0 = UDPCounters.read()
    try body()
    let u1 = UDPCounters.read()
    let rev1 = (try? blockingRequest(revAddress, verb: V.rev).rev) ?? 0
    var r = Report()
    r.add("scope", UDPCounters.ownNamespace ? "own network namespace (exact)" : "machine-wide (includes other processes)")
    r.add("revs", Int(rev1 - rev0))
    r.add("out_datagrams", u1.outDatagrams - u0.outDatagrams)
    r.add("in_datagrams", u1.inDatagrams - u0.inDatagrams)
    r.add("rcvbuf_errors", u1.receiveBufferErrors - u0.receiveBufferErrors)
    r.add("sndbuf_errors", u1.sendBufferErrors - u0.sendBufferErrors)
    if rev1 > rev0 { r.add("out_datagrams_per_rev", Double(u1.outDatagrams - u0.outDatagrams) / Double(rev1 - rev0)) }
    return r
}

/// Whole-life peer traffic per revision and per consensus instance, from the nodes' shutdown
/// lines (bytes are UDP payload; each datagram adds 28 bytes of IPv4 and UDP headers).
func trafficPerWrite(_ stopped: Report, finalRev: Int64, seed: String) -> Report? {
    guard case .object(let all)? = stopped.fields.first(where: { $0.0 == "all_nodes" })?.1,
          case .object(let seedNode)? = stopped.fields.first(where: { $0.0 == seed })?.1 else { return nil }
    func int(_ r: Report, _ k: String) -> Int {
        if case .int(let v)? = r.fields.first(where: { $0.0 == k })?.1 { return v }
        return 0
    }
    let datagrams = int(all, "datagrams_sent"), bytes = int(all, "bytes_sent"), instances = int(seedNode, "decided")
    guard finalRev > 0, instances > 0 else { return nil }
    var r = Report()
    r.add("revs", Int(finalRev))
    r.add("instances_decided", instances)
    r.add("revs_per_instance", Double(finalRev) / Double(instances))
    r.add("datagrams_per_instance", Double(datagrams) / Double(instances))
    r.add("datagrams_per_rev", Double(datagrams) / Double(finalRev))
    r.add("payload_bytes_per_rev", Double(bytes) / Double(finalRev))
    r.add("wire_bytes_per_rev", Double(bytes + 28 * datagrams) / Double(finalRev))
    return r
}

/// `cluster`: forms the cluster, runs the workload on it, stops it. Connections go round-robin
/// over the members; with `-op watch` the writers go to the members and the watchers to the
/// slaves (the slave's lag is the delivery latency), or to the members when there are none.
func runCluster(_ o: Options, _ cluster: LocalCluster, into report: inout Report) throws {
    progress(o, "forming a cluster of \(o.nodes) members and \(o.slaves) slave(s) on 127.0.0.1…\(o.nodes + o.slaves)")
    try cluster.form(memberCount: o.nodes, slaveCount: o.slaves)
    progress(o, "formed at rev \(cluster.formedRev) in \(format1(cluster.formSeconds * 1000)) ms: members \(cluster.members.map(\.address.description)), slaves \(cluster.slaves.map(\.address.description))")
    var c = Report()
    c.add("members", cluster.members.map(\.address.description).joined(separator: ","))
    c.add("slaves", cluster.slaves.map(\.address.description).joined(separator: ","))
    c.add("formed_rev", Int(cluster.formedRev))
    c.add("form_ms", cluster.formSeconds * 1000)
    report.add("cluster", c)
    // -first k: the round-robin starts at member k (slot order; 0 is the seed, which leads).
    let all = cluster.members.map(\.address)
    let first = min(o.firstMember, all.count - 1)
    let memberAddresses = Array(all[first...] + all[..<first])
    let watchAddresses = o.op == "watch" && !cluster.slaves.isEmpty ? cluster.slaves.map(\.address) : memberAddresses
    var result = Report()
    let udp = try measuringUDP(memberAddresses[0]) {
        result = try runWorkload(o, memberAddresses, nodes: cluster.nodes, watchAddresses: watchAddresses)
    }
    result.add("udp_during_run", udp)
    report.add("result", result)
}

/// `catchup`: a cluster with no slave, `-files` files of `-size` bytes SET over its members,
/// then a fresh `doozerd -a` timed from its start until it answers REV at or past the loaded
/// revision and a GET of the last file loaded returns it.
func runCatchup(_ o: Options, _ cluster: LocalCluster, into report: inout Report) throws {
    progress(o, "forming a cluster of \(o.nodes) member(s)")
    try cluster.form(memberCount: o.nodes, slaveCount: 0)
    let engine = try Engine(o)
    try engine.connect(cluster.members.map(\.address), count: o.connections, role: .worker, depth: o.pipeline)
    progress(o, "catchup: SET \(o.files) files of \(o.valueSize) bytes")
    let t0 = ProcessEnvironment.monotonicNanoseconds()
    try engine.runPhase(.prefill(total: o.files, sequentialFrom: 0), duration: 0, warmup: 0, count: o.files)
    let loadSeconds = Double(ProcessEnvironment.monotonicNanoseconds() - t0) / 1e9
    engine.closeAll()
    let loadedRev = try blockingRequest(cluster.seed.address, verb: V.rev).rev
    let lastPath = "/bench/k\(o.files - 1)"
    var r = Report()
    r.add("op", "catchup")
    if !o.label.isEmpty { r.add("label", o.label) }
    r.add("members", o.nodes)
    r.add("files", o.files)
    r.add("value_size", o.valueSize)
    r.add("load_s", loadSeconds)
    r.add("load_sets_per_s", Double(engine.counters.done) / loadSeconds)
    r.add("load_errors", errorsReport(engine.counters))
    r.add("loaded_rev", Int(loadedRev))
    progress(o, "loaded to rev \(loadedRev) in \(format1(loadSeconds)) s; starting a fresh slave")
    let start = ProcessEnvironment.monotonicNanoseconds()
    let slave = try cluster.start(cluster.nodes.count + 1)
    var answeredAt: Int64 = 0, attachedRev: Int64 = 0
    let deadline = start + 60_000_000_000
    while ProcessEnvironment.monotonicNanoseconds() < deadline {
        var status: Int32 = 0
        if waitpid(slave.pid, &status, WNOHANG) == slave.pid {
            let last = slave.log().split(separator: "\n").last.map(String.init) ?? "?"
            throw FlagError(description: "the fresh slave exited (status \(status)): \(last)")
        }
        if let (rev, err) = try? blockingRequest(slave.address, verb: V.rev), err == 0 {
            if answeredAt == 0 { answeredAt = ProcessEnvironment.monotonicNanoseconds(); attachedRev = rev }
            if rev >= loadedRev { break }
        }
        usleep(1_000)
    }
    let c = try cluster.dial(slave)
    defer { c.close() }
    let last = try c.get(lastPath)
    let servedAt = ProcessEnvironment.monotonicNanoseconds()
    guard last.body.count == o.valueSize else {
        throw FlagError(description: "the slave answered GET \(lastPath) with \(last.body.count) bytes, not \(o.valueSize)")
    }
    let count = Int(try c.stat("/bench").len)   // a directory's len: its entries
    r.add("slave", slave.address.description)
    r.add("first_answer_ms", Double(answeredAt - start) / 1e6)
    r.add("first_answer_rev", Int(attachedRev))
    r.add("serves_all_ms", Double(servedAt - start) / 1e6)
    r.add("files_on_slave", count)
    let rss = slave.rss()
    r.add("slave_rss_kb", rss.current)
    report.add("result", r)
}
