// Child processes of the fault suite, started with posix_spawn so that this suite alone decides
// their process group and reaps them (nothing else in the test process waits for children).

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failure of the suite's own machinery (not of doozerd): the message says what and where.
struct FaultError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starting, signalling and reaping child processes.
enum Spawn {
    /// Where a child's stdout or stderr goes.
    enum Output {
        /// Appended to this file (created if missing).
        case file(String)
        /// This descriptor (e.g. a pipe's write end).
        case descriptor(Int32)
    }

    /// How a child ended.
    enum Exit: Equatable, CustomStringConvertible {
        case status(Int32)
        case signal(Int32)

        var description: String {
            switch self {
            case .status(let code): return "exit status \(code)"
            case .signal(let number): return "signal \(number)"
            }
        }
    }

    /// Starts `path arguments` with exactly `environment`, stdin from /dev/null. `newGroup`: the
    /// child leads a process group of its own (its pid), so one `kill(-pid)` reaches everything
    /// it starts; otherwise it stays in ours.
    static func start(_ path: String, _ arguments: [String], environment: [String: String],
                      stdout: Output, stderr: Output, newGroup: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        redirect(&actions, 1, stdout)
        redirect(&actions, 2, stderr)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw FaultError("posix_spawn \(path): \(String(cString: strerror(result)))")
        }
        return pid
    }

    private static func redirect(_ actions: inout posix_spawn_file_actions_t, _ target: Int32, _ output: Output) {
        switch output {
        case .file(let path): posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
        }
    }

    /// Waits for `pid` to end; nil if it is still running after `timeout` seconds (nil timeout:
    /// waits as long as it takes).
    static func wait(_ pid: pid_t, timeout: Double? = nil) -> Exit? {
        let deadline = timeout.map { Clock.seconds() + $0 }
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if result == pid { return decode(status) }
            if result < 0 && errno != EINTR { return .status(-1) }
            if let deadline {
                if Clock.seconds() >= deadline { return nil }
                usleep(10_000)
            }
        }
    }

    /// The exit of `pid` if it already ended (reaped now), else nil.
    static func poll(_ pid: pid_t) -> Exit? {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid ? decode(status) : nil
    }

    /// SIGKILL, then reap.
    @discardableResult
    static func kill9(_ pid: pid_t) -> Exit {
        _ = kill(pid, SIGKILL)
        return wait(pid) ?? .status(-1)
    }

    /// Runs `path arguments` to its end (at most `timeout` s, then SIGKILL); its exit and what it
    /// wrote to stdout and stderr.
    static func run(_ path: String, _ arguments: [String], timeout: Double = 10) throws -> (exit: Exit, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-faults-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let pid = try start(path, arguments, environment: ProcessInfo.processInfo.environment, stdout: .file(log), stderr: .file(log))
        let exit = wait(pid, timeout: timeout) ?? kill9(pid)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (exit, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `name` on PATH or in the system folders root's tools live in; nil if not found.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func decode(_ status: Int32) -> Exit {
        let signal = status & 0x7f
        return signal == 0 ? .status((status >> 8) & 0xff) : .signal(signal)
    }
}

/// The monotonic clock every timestamp of the suite comes from.
enum Clock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}
