// doozer-bench: a load generator for any doozer server (ours or the original Go doozerd).
import DoozerSystem
import DoozerReactor
import DoozerTLS
import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// An ordered report: printed as a table and as one JSON line.
struct Report {
    enum Value { case int(Int), double(Double), string(String), object(Report) }
    var fields: [(String, Value)] = []
    mutating func add(_ key: String, _ v: Int) { fields.append((key, .int(v))) }
    mutating func add(_ key: String, _ v: Double) { fields.append((key, .double(v))) }
    mutating func add(_ key: String, _ v: String) { fields.append((key, .string(v))) }
    mutating func add(_ key: String, _ v: Report) { fields.append((key, .object(v))) }

    var json: String {
        "{" + fields.map { "\"\(escape($0.0))\":\(render($0.1))" }.joined(separator: ",") + "}"
    }
    private func render(_ v: Value) -> String {
        switch v {
        case .int(let i): String(i)
        case .double(let d): d.isFinite ? String(format1(d)) : "null"
        case .string(let s): "\"\(escape(s))\""
        case .object(let r): r.json
        }
    }
    private func escape(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
    func table(indent: String = "") -> String {
        var lines: [String] = []
        let width = fields.map(\.0.count).max() ?? 0
        for (k, v) in fields {
            let pad = String(repeating: " ", count: width - k.count)
            switch v {
            case .object(let r): lines.append("\(indent)\(k):"); lines.append(r.table(indent: indent + "  "))
            default: lines.append("\(indent)\(k)\(pad)  \(render(v).replacingOccurrences("\"", ""))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

func format1(_ d: Double) -> String {
    let scaled = (d * 10).rounded() / 10
    return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
}

extension String {
    func replacingOccurrences(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}

func latencyReport(_ h: Histogram<UInt64>) -> Report {
    var r = Report()
    func us(_ ns: UInt64) -> Double { Double(ns) / 1000 }
    r.add("p50_us", us(h.valueAtPercentile(50)))
    r.add("p90_us", us(h.valueAtPercentile(90)))
    r.add("p99_us", us(h.valueAtPercentile(99)))
    r.add("p999_us", us(h.valueAtPercentile(99.9)))
    r.add("max_us", us(h.max))
    r.add("samples", Int(h.totalCount))
    return r
}

func errorsReport(_ c: Counters) -> Report {
    var r = Report()
    r.add("total", c.errorTotal)
    for (k, v) in c.errors.sorted(by: { $0.key < $1.key }) { r.add(k, v) }
    return r
}

func progress(_ o: Options, _ text: String) {
    if !o.quiet { eprint("doozer-bench: \(text)") }
}

/// The get/set/mixed/watch workload against `addresses` (with `-op watch`, the watchers on
/// `watchAddresses` when given). `nodes` (the ones this bench started) add server figures.
func runWorkload(_ o: Options, _ addresses: [SocketAddress], nodes: [LocalNode],
                 watchAddresses: [SocketAddress]? = nil) throws -> Report {
    let engine = try Engine(o)
    var r = Report()
    r.add("op", o.op)
    if !o.label.isEmpty { r.add("label", o.label) }
    r.add("addresses", addresses.map(\.description).joined(separator: ","))
    if o.op == "watch" {
        let (startRev, _) = try blockingRequest(addresses[0], verb: V.rev)
        engine.startRev = startRev
        try engine.connect(watchAddresses ?? addresses, count: o.watchers, role: .watcher, depth: o.watchPipeline)
        try engine.connect(addresses, count: o.writers, role: .writer, depth: o.writerWindow)
        for c in engine.conns where c.role == .watcher { c.nextWaitRev = startRev + 1 }
        progress(o, "watch: \(o.watchers) watchers on /**, \(o.writers) writer(s) at \(Int(o.rate))/s for \(o.duration)s")
        let cpu0 = selfCPUSeconds(), server0 = serverCPU(nodes)
        try engine.runPhase(.watch, duration: o.duration, warmup: 0, count: 0)
        let wall = Double(engine.measureEnd - engine.measureStart) / 1e9
        r.add("watchers", o.watchers)
        r.add("writers", o.writers)
        r.add("waits_per_watcher", o.watchPipeline)
        r.add("writer_window", o.writerWindow)
        r.add("value_size", o.valueSize)
        r.add("duration_s", wall)
        r.add("target_writes_per_s", o.rate)
        r.add("writes_ok", engine.writesOK)
        r.add("writes_per_s", Double(engine.writesOK) / wall)
        r.add("writes_behind_pace_at_end", engine.writesBehind)
        r.add("set_latency", latencyReport(engine.latency))
        let watchers = engine.conns.filter { $0.role == .watcher }
        let delivered = watchers.map(\.delivered)
        var w = Report()
        w.add("expected_per_watcher", engine.writesOK)
        w.add("expected_total", engine.writesOK * watchers.count)
        w.add("delivered_total", delivered.reduce(0, +))
        w.add("delivered_min", delivered.min() ?? 0)
        w.add("delivered_max", delivered.max() ?? 0)
        w.add("watchers_complete", watchers.filter { $0.delivered == engine.writesOK && !$0.closed }.count)
        w.add("too_late", watchers.map(\.tooLate).reduce(0, +))
        w.add("rev_gaps", watchers.map(\.gaps).reduce(0, +))
        w.add("duplicates", watchers.map(\.duplicates).reduce(0, +))
        w.add("events_all_paths", watchers.map(\.allEvents).reduce(0, +))
        w.add("events_per_s", Double(delivered.reduce(0, +)) / wall)
        r.add("watch", w)
        r.add("delivery_latency", latencyReport(engine.eventLatency))
        r.add("errors", errorsReport(engine.counters))
        if let watchAddresses { r.add("watcher_addresses", watchAddresses.map(\.description).joined(separator: ",")) }
        addCPU(&r, wall: wall, cpu0: cpu0, server0: server0, nodes: nodes)
    } else {
        try engine.connect(addresses, count: o.connections, role: .worker, depth: o.pipeline)
        try engine.connect(addresses, count: o.readers, role: .reader, depth: o.pipeline)
        if o.prefill && (o.op != "set" || o.readers > 0) {
            progress(o, "prefill: SET \(o.keys) keys of \(o.valueSize) bytes")
            try engine.runPhase(.prefill(total: o.keys, sequentialFrom: 0), duration: 0, warmup: 0, count: o.keys)
            if engine.counters.errorTotal > 0 { r.add("prefill_errors", errorsReport(engine.counters)) }
        }
        progress(o, "\(o.op): \(o.connections) connections" + (o.readers > 0 ? " and \(o.readers) GET readers" : "") + " × pipeline \(o.pipeline), " +
                 (o.count > 0 ? "\(o.count) ops" : "\(o.duration)s") + " after \(o.warmup)s warm-up")
        let cpu0 = selfCPUSeconds(), server0 = serverCPU(nodes)
        try engine.runPhase(.load, duration: o.duration, warmup: o.warmup, count: o.count)
        let wall = Double(engine.measureEnd - engine.measureStart) / 1e9
        r.add("connections", o.connections)
        r.add("pipeline", o.pipeline)
        if o.op == "mixed" { r.add("read_ratio", o.readRatio) }
        r.add("value_size", o.valueSize)
        r.add("keys", o.keys)
        r.add("duration_s", wall)
        r.add("ops", engine.counters.done)
        r.add("ops_per_s", Double(engine.counters.done) / wall)
        if o.op == "mixed" { r.add("reads", engine.counters.reads); r.add("writes", engine.counters.writes) }
        r.add("latency", latencyReport(engine.latency))
        if o.readers > 0 {
            var readers = Report()
            readers.add("connections", o.readers)
            readers.add("ops", engine.readerDone)
            readers.add("ops_per_s", Double(engine.readerDone) / wall)
            readers.add("latency", latencyReport(engine.readerLatency))
            r.add("readers", readers)
        }
        r.add("errors", errorsReport(engine.counters))
        addCPU(&r, wall: wall + o.warmup, cpu0: cpu0, server0: server0, nodes: nodes)
    }
    engine.closeAll()
    return r
}

func serverCPU(_ nodes: [LocalNode]) -> Double { nodes.map { $0.cpuSeconds() }.reduce(0, +) }

/// The bench's CPU and, summed over every node it started, the servers' (100 = one core).
func addCPU(_ r: inout Report, wall: Double, cpu0: Double, server0: Double, nodes: [LocalNode]) {
    r.add("bench_cpu_pct", (selfCPUSeconds() - cpu0) / wall * 100)
    if !nodes.isEmpty { r.add("server_cpu_pct", (serverCPU(nodes) - server0) / wall * 100) }
}

func machine() -> Report {
    var r = Report()
    r.add("cores", Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let model = readFile("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1)[1].drop { $0 == " " }) } ?? "?"
    r.add("cpu", model)
    let load = readFile("/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?"
    r.add("loadavg_1m", load)
    return r
}

/// `memory`: doozerd's RSS with n files loaded, then with n idle connections open.
func runMemory(_ o: Options, _ node: LocalNode) throws -> Report {
    var r = Report()
    r.add("op", "memory")
    let base = node.rss()
    r.add("rss_start_kb", base.current)
    if o.files > 0 {
        let (engine, seconds) = try fill(o, node.address, "memory")
        usleep(1_500_000)   // let a pulse and history GC run
        let loaded = node.rss()
        r.add("files", o.files)
        r.add("value_size", o.valueSize)
        r.add("load_s", seconds)
        r.add("load_sets_per_s", Double(engine.counters.done) / seconds)
        r.add("load_errors", errorsReport(engine.counters))
        r.add("rss_files_kb", loaded.current)
        r.add("rss_files_peak_kb", loaded.peak)
        r.add("rss_files_delta_kb", loaded.current - base.current)
    }
    if o.idle > 0 {
        let before = node.rss()
        let engine = try Engine(o)
        var connectErrors: [String: Int] = [:]
        progress(o, "memory: opening \(o.idle) idle connections")
        for _ in 0 ..< o.idle {
            do { try engine.connect([node.address], count: 1, role: .idle, depth: 1, bufferSize: 256) }
            catch { connectErrors["\(error)", default: 0] += 1; if connectErrors.values.reduce(0, +) > 100 { break } }
        }
        usleep(2_000_000)
        let opened = node.rss()
        try engine.runPhase(.probe, duration: 0, warmup: 0, count: 0)
        let answered = engine.counters.done
        usleep(500_000)
        let after = node.rss()
        r.add("idle_requested", o.idle)
        r.add("idle_connected", engine.conns.count)
        r.add("idle_answering_rev", answered)
        r.add("idle_errors", errorsReport(engine.counters))
        r.add("connect_errors", connectErrors.values.reduce(0, +))
        for (k, v) in connectErrors { r.add("connect_error", "\(v)× \(k)") }
        r.add("rss_before_idle_kb", before.current)
        r.add("rss_idle_kb", opened.current)
        r.add("rss_idle_delta_kb", opened.current - before.current)
        r.add("rss_idle_after_probe_delta_kb", after.current - before.current)
        r.add("per_connection_bytes", engine.conns.isEmpty ? 0 : (opened.current - before.current) * 1024 / engine.conns.count)
        engine.closeAll()
    }
    return r
}

/// `recovery`: a durable node in a fresh folder under `-data` (default /tmp) is filled with
/// `-files` files of `-size` bytes, SIGKILLed, and restarted with the same flags; the restart
/// is timed from spawn until it answers REV at the revision it had. Also reports the bytes
/// the node sent to storage per SET (log and snapshots) and what the folder holds on disk.
func runRecovery(_ o: Options) throws -> Report {
    var r = Report()
    let ip = "127.0.0.\(2 + Int(getpid()) % 250)"
    let dataDir = "\(o.dataParent ?? "/tmp")/doozer-bench-\(getpid())"
    defer { removeTree(dataDir) }
    let flags = ["-data", dataDir] + (o.snapshotEvery.map { ["-snapshotevery", String($0)] } ?? [])
    let first = try LocalNode(binary: o.doozerd, ip: ip, hist: o.hist, extra: flags)
    defer { first.crash() }
    _ = try first.waitReady(minRev: o.minRev)
    let (engine, loadSeconds) = try fill(o, first.address, "recovery")
    let rev = try blockingRequest(first.address, verb: V.rev).rev
    let written = first.storageWriteBytes()
    first.crash()
    let disk = diskUse(dataDir)
    progress(o, "recovery: killed at REV \(rev); restarting")
    let t1 = ProcessEnvironment.monotonicNanoseconds()
    let second = try LocalNode(binary: o.doozerd, ip: ip, hist: o.hist, port: first.address.port, extra: flags)
    defer { second.stop() }
    _ = try second.waitReady(minRev: rev, timeout: 600)
    let recoverySeconds = Double(ProcessEnvironment.monotonicNanoseconds() - t1) / 1e9
    let line = second.log().split(separator: "\n").first { $0.contains("data directory") }.map(String.init) ?? ""
    r.add("files", o.files)
    r.add("value_size", o.valueSize)
    r.add("load_s", loadSeconds)
    r.add("load_errors", errorsReport(engine.counters))
    r.add("rev_at_kill", Int(rev))
    r.add("storage_write_bytes_per_set", Double(written) / Double(max(1, engine.counters.done)))
    r.add("disk_allocated_bytes", disk.allocated)
    r.add("disk_apparent_bytes", disk.apparent)
    r.add("recovery_s", recoverySeconds)
    r.add("recovery_line", String(line.drop { $0 != "]" }.dropFirst(2)))
    return r
}

/// SETs `-files` distinct files over `-c` connections pipelined `-p` deep; returns the closed
/// engine (its counters) and the seconds it took.
func fill(_ o: Options, _ address: SocketAddress, _ mode: String) throws -> (Engine, Double) {
    let engine = try Engine(o)
    try engine.connect([address], count: o.connections, role: .worker, depth: o.pipeline)
    progress(o, "\(mode): SET \(o.files) files of \(o.valueSize) bytes (\(o.connections) conns × pipeline \(o.pipeline))")
    let t0 = ProcessEnvironment.monotonicNanoseconds()
    try engine.runPhase(.prefill(total: o.files, sequentialFrom: 0), duration: 0, warmup: 0, count: o.files)
    let seconds = Double(ProcessEnvironment.monotonicNanoseconds() - t0) / 1e9
    engine.closeAll()
    return (engine, seconds)
}

/// (allocated, apparent) bytes of every file under `path`.
func diskUse(_ path: String) -> (allocated: Int, apparent: Int) {
    var status = stat()
    guard lstat(path, &status) == 0 else { return (0, 0) }
    guard (status.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) else {
        return (Int(status.st_blocks) * 512, Int(status.st_size))
    }
    var total = (allocated: 0, apparent: 0)
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name != "." && name != ".." else { continue }
        let inner = diskUse(path + "/" + name)
        total.allocated += inner.allocated
        total.apparent += inner.apparent
    }
    closedir(dir)
    return total
}

func eprint(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func main() -> Int32 {
    signal(SIGPIPE, SIG_IGN)
    var args = CommandLine.arguments.dropFirst()
    guard let mode = args.popFirst(), ["run", "local", "memory", "cluster", "catchup", "recovery"].contains(mode) else {
        eprint(usage())
        return 2
    }
    var o: Options
    do { o = try parseFlags(args) } catch {
        eprint("\(error)")
        return 2
    }
    do {
        if let ca = o.tlsCA { benchTLS = try TLSContext.client(caFile: ca) }
    } catch {
        eprint("\(error)")
        return 2
    }
    if let cert = o.tlsCert, let key = o.tlsKey {
        serverTLSArguments = ["-tlscert", cert, "-tlskey", key] + (o.tlsCA.map { ["-tlsca", $0] } ?? [])
    } else if o.tlsCert != nil || o.tlsKey != nil {
        eprint("-tlscert and -tlskey go together")
        return 2
    }
    if let peerKey = o.peerKey { serverTLSArguments += ["-peerkey", peerKey] }
    if o.nodes == 0 { o.nodes = mode == "cluster" ? 3 : 1 }
    if o.files < 0 { o.files = mode == "catchup" ? 50_000 : 1_000_000 }
    StartedProcesses.stopOnSignals()
    let limit = raiseFileLimit(o.noFile)
    var report = Report()
    report.add("tool", "doozer-bench")
    report.add("mode", mode)
    var node: LocalNode?
    var cluster: LocalCluster?
    do {
        switch mode {
        case "run":
            let addresses = try o.addresses.map { a throws -> SocketAddress in try SocketAddress.resolve(a) }
            report.add("result", try runWorkload(o, addresses, nodes: []))
        case "recovery":
            report.add("doozerd", o.doozerd)
            report.add("result", try runRecovery(o))
        case "cluster", "catchup":
            let started = LocalCluster(o)
            cluster = started
            report.add("doozerd", o.doozerd)
            if mode == "cluster" { try runCluster(o, started, into: &report) } else { try runCatchup(o, started, into: &report) }
            let finalRev = (try? blockingRequest(started.seed.address, verb: V.rev).rev) ?? 0
            var rss = Report()
            for n in started.nodes { rss.add(n.address.description, n.rss().current) }
            report.add("server_rss_kb", rss)
            let stopped = started.stopAll()
            cluster = nil
            report.add("nodes", stopped)
            if let traffic = trafficPerWrite(stopped, finalRev: finalRev, seed: started.seed.address.description) {
                report.add("peer_traffic_whole_life", traffic)
            }
        default:
            if o.nodes != 1 { throw FlagError(description: "-nodes \(o.nodes): local and memory start one node; use cluster") }
            let ip = "127.0.0.\(2 + Int(getpid()) % 250)"
            let dataDir = o.dataParent.map { "\($0)/doozer-bench-\(getpid())" }
            defer { if let dataDir { removeTree(dataDir) } }
            let started = try LocalNode(binary: o.doozerd, ip: ip, hist: o.hist,
                                        extra: dataDir.map { ["-data", $0] } ?? [])
            node = started
            progress(o, "started doozerd pid \(started.pid) on \(started.address) (RLIMIT_NOFILE \(limit)), log \(started.logPath)")
            let rev = try started.waitReady(minRev: mode == "memory" ? 1 : o.minRev)
            progress(o, "doozerd ready at REV \(rev)")
            report.add("doozerd", o.doozerd)
            report.add("data", dataDir ?? "memory-only")
            report.add("nofile_limit", Int(limit))
            let result = mode == "memory" ? try runMemory(o, started) : try runWorkload(o, [started.address], nodes: [started])
            report.add("result", result)
            let rss = started.rss()
            report.add("server_rss_kb", rss.current)
            report.add("server_peak_rss_kb", rss.peak)
            let status = started.stop()
            node = nil
            report.add("server_exit_status", Int(status))
            if dataDir != nil, let counters = shutdownCounters("log traffic:", in: started.log()) {
                // The node's whole life (warm-up and start-up included), as it logged it at shutdown.
                var log = Report()
                for (k, v) in counters { log.add(k, v) }
                let values = Dictionary(counters, uniquingKeysWith: { $1 })
                if let batches = values["batches"], batches > 0 {
                    log.add("bytes_per_batch", Double(values["bytes"] ?? 0) / Double(batches))
                    log.add("sync_us_per_batch", Double(values["sync_us"] ?? 0) / Double(batches))
                }
                report.add("log_whole_life", log)
            }
        }
    } catch {
        eprint("doozer-bench: \(error)")
        node?.stop()
        _ = cluster?.stopAll()
        return 1
    }
    report.add("machine", machine())
    print(report.table())
    print(report.json)
    if !o.keepLogs { for path in LocalNode.logPaths { unlink(path) } }
    return 0
}

exit(main())

/// Removes `path` and everything under it (a durable node's data folder after its run).
func removeTree(_ path: String) {
    if let dir = opendir(path) {
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { removeTree(path + "/" + name) }
        }
        closedir(dir)
        rmdir(path)
    } else {
        unlink(path)
    }
}
