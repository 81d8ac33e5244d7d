// Starting and stopping local doozerd processes: one for `local` and `memory`, N of them for
// `cluster` and `catchup` (Cluster.swift forms them into a cluster).
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

final class LocalNode {
    let pid: pid_t
    let address: SocketAddress
    let logPath: String

    /// Starts `binary -l <ip>:<free port> -c bench -w false -hist n`, stderr to a log file.
    /// `extra` flags follow (e.g. `-a` to attach).
    /// `port` nil: one the kernel considers free (a restart passes the one it had).
    init(binary: String, ip: String, hist: Int, port: UInt16? = nil, extra: [String] = []) throws {
        guard access(binary, X_OK) == 0 else { throw FlagError(description: "doozerd not executable: \(binary)") }
        let port = try port ?? LocalNode.freePort(ip)
        let addr = "\(ip):\(port)"
        address = try SocketAddress.resolve(addr)
        logPath = "/tmp/doozer-bench-\(getpid())-\(port).log"
        LocalNode.logPaths.append(logPath)
        var args = [binary, "-l", addr, "-c", "bench", "-w", "false", "-hist", String(hist)] + serverTLSArguments + extra
        // Through setpriv --pdeathsig (util-linux), the node gets SIGTERM when the bench dies,
        // even if it crashes: nothing it started outlives it.
        var program = binary
        if access(LocalNode.setpriv, X_OK) == 0 {
            program = LocalNode.setpriv
            args = [program, "--pdeathsig", "TERM"] + args
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, program, &actions, &attr, argv, environ)
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attr)
        guard rc == 0 else { throw SystemError("posix_spawn", Errno(rawValue: rc)) }
        pid = child
        StartedProcesses.add(child)
    }

    static let setpriv = "/usr/bin/setpriv"

    /// A port the kernel considers free on `ip` right now.
    static func freePort(_ ip: String) throws -> UInt16 {
        let fd = try Socket.listenTCP(try SocketAddress.resolve("\(ip):0"))
        defer { fd.close() }
        return try Socket.localAddress(fd).port
    }

    /// Waits until the node answers REV ≥ minRev (it writes its /ctl layout at start-up).
    func waitReady(minRev: Int64, timeout: Double = 20) throws -> Int64 {
        let deadline = ProcessEnvironment.monotonicNanoseconds() + Int64(timeout * 1e9)
        var last: Int64 = -1
        while ProcessEnvironment.monotonicNanoseconds() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw FlagError(description: "doozerd exited at start-up (status \(status)); see \(logPath)")
            }
            if let (rev, err) = try? blockingRequest(address, verb: V.rev), err == 0 {
                last = rev
                if rev >= minRev { return rev }
            }
            usleep(20_000)
        }
        throw FlagError(description: "doozerd at \(address) not ready (last REV \(last)); see \(logPath)")
    }

    /// (current, peak) resident set in KiB, from /proc/<pid>/status.
    func rss() -> (current: Int, peak: Int) {
        guard let text = readFile("/proc/\(pid)/status") else { return (0, 0) }
        var current = 0, peak = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.first == "VmRSS:", parts.count > 1 { current = Int(parts[1]) ?? 0 }
            if parts.first == "VmHWM:", parts.count > 1 { peak = Int(parts[1]) ?? 0 }
        }
        return (current, peak)
    }

    /// User + system CPU seconds used so far.
    func cpuSeconds() -> Double {
        guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); utime is field 14, stime 15.
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, then wait (SIGKILL after 5 s). Returns the exit status; later calls return it
    /// again without signalling (the pid may have been reused).
    @discardableResult
    func stop() -> Int32 {
        if let exitStatus { return exitStatus }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        defer { exitStatus = status; StartedProcesses.remove(pid) }
        for _ in 0 ..< 250 {
            if waitpid(pid, &status, WNOHANG) == pid { return status }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return status
    }
    private var exitStatus: Int32?

    /// SIGKILL and reap: a crash, with nothing flushed.
    func crash() {
        guard exitStatus == nil else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = status
        StartedProcesses.remove(pid)
    }

    /// Bytes this process caused to be sent to the storage layer (`write_bytes` in /proc/<pid>/io).
    func storageWriteBytes() -> Int {
        guard let text = readFile("/proc/\(pid)/io") else { return 0 }
        let line = text.split(separator: "\n").first { $0.hasPrefix("write_bytes:") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// The node's log (stderr) so far.
    func log() -> String { readFile(logPath) ?? "" }

    /// Every node log this bench wrote: removed after a run that succeeded (unless -keeplogs),
    /// kept after a failure, which names the one to read.
    nonisolated(unsafe) static var logPaths: [String] = []
}

/// The pids of the doozerd processes this bench started and has not reaped, kept where a
/// signal handler can read them: on SIGINT/SIGTERM the bench sends them SIGTERM, then exits.
enum StartedProcesses {
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<pid_t> = {
        let p = UnsafeMutablePointer<pid_t>.allocate(capacity: 256)
        p.initialize(repeating: 0, count: 256)
        return p
    }()

    static func add(_ pid: pid_t) {
        for i in 0 ..< 256 where slots[i] == 0 { slots[i] = pid; return }
    }

    static func remove(_ pid: pid_t) {
        for i in 0 ..< 256 where slots[i] == pid { slots[i] = 0 }
    }

    /// Installs the SIGINT/SIGTERM handler (async-signal-safe: kill and _exit only).
    static func stopOnSignals() {
        _ = slots   // initialized here, never in the handler
        let handler: @convention(c) (Int32) -> Void = { signal in
            for i in 0 ..< 256 where StartedProcesses.slots[i] > 0 { kill(StartedProcesses.slots[i], SIGTERM) }
            _exit(128 + signal)
        }
        Glibc.signal(SIGINT, handler)
        Glibc.signal(SIGTERM, handler)
    }
}

func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8192) }
        if n <= 0 { break }
        bytes += chunk[0 ..< n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func selfCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
