// Black-box harness for the doozerd conformance suite: finds the built server, starts it on a
// private loopback address, and talks to it over plain TCP sockets with the DoozerWire codec.
// Only ever connects to 127.0.0.0/8.

import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Errors

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Small helpers

/// UTF-8 bytes of a string.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A path component that is unique for this run: letters and digits only (valid in paths).
func unique(_ prefix: String) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    let suffix = String((0..<8).map { _ in alphabet.randomElement()! })
    return "\(prefix)\(suffix)"
}

/// Protobuf base-128 varint.
func varint(_ value: UInt64) -> [UInt8] {
    var out: [UInt8] = []
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7f) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
    return out
}

/// A 4-byte big-endian header followed by `payload`, built by hand (for framing tests).
func rawFrame(_ payload: [UInt8]) -> [UInt8] {
    let n = UInt32(payload.count)
    return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
}

func hex(_ data: [UInt8]) -> String { data.map { String(format: "%02x", $0) }.joined(separator: " ") }

extension Response {
    /// The body as text (lossy), for assertions and messages.
    var text: String? { value.map { String(decoding: $0, as: UTF8.self) } }

    var error: ErrorCode? { errCode.flatMap(ErrorCode.init(rawValue:)) }

    /// One-line description used in assertion messages.
    var brief: String {
        var parts: [String] = []
        if let tag { parts.append("tag=\(tag)") }
        if let flags { parts.append("flags=\(flags)") }
        if let rev { parts.append("rev=\(rev)") }
        if let path { parts.append("path=\(path.debugDescription)") }
        if let value {
            let shown = value.count > 64 ? "\(value.count) bytes" : String(decoding: value, as: UTF8.self).debugDescription
            parts.append("value=\(shown)")
        }
        if let len { parts.append("len=\(len)") }
        if let errCode { parts.append("err=\(ErrorCode(rawValue: errCode).map { "\($0)" } ?? "?")(\(errCode))") }
        if let errDetail { parts.append("detail=\(errDetail.debugDescription)") }
        return "Response{" + parts.joined(separator: " ") + "}"
    }
}

private let sockStream: Int32 = {
    #if canImport(Glibc) || canImport(Musl)
    return Int32(SOCK_STREAM.rawValue)
    #else
    return SOCK_STREAM
    #endif
}()

private let sockDgram: Int32 = {
    #if canImport(Glibc) || canImport(Musl)
    return Int32(SOCK_DGRAM.rawValue)
    #else
    return SOCK_DGRAM
    #endif
}()

#if canImport(Glibc) || canImport(Musl)
private let noSigPipe: Int32 = Int32(MSG_NOSIGNAL)
#else
private let noSigPipe: Int32 = 0
#endif

/// Ignore SIGPIPE once per process: a server closing a connection must fail a send, not kill us.
private let ignoreSigPipe: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

private func socketAddress(host: String, port: UInt16) throws -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        throw HarnessError("not an IPv4 address: \(host)")
    }
    guard host.hasPrefix("127.") else { throw HarnessError("refusing to talk to non-loopback \(host)") }
    return address
}

private func setTimeout(_ fd: Int32, _ option: Int32, seconds: Double) {
    var tv = timeval()
    tv.tv_sec = Int(seconds)
    tv.tv_usec = .init((seconds - Double(Int(seconds))) * 1_000_000)
    _ = setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
}

private func sysClose(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #elseif canImport(Musl)
    _ = Musl.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

private func sysSend(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    return Glibc.send(fd, pointer, count, flags)
    #elseif canImport(Musl)
    return Musl.send(fd, pointer, count, flags)
    #else
    return Darwin.send(fd, pointer, count, flags)
    #endif
}

private func errnoText(_ code: Int32 = errno) -> String { "\(String(cString: strerror(code))) (errno \(code))" }

/// Milliseconds-resolution monotonic clock.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Short pause for bounded retry loops (never used to synchronise with the server).
func pause(_ seconds: Double) { usleep(UInt32(seconds * 1_000_000)) }

// MARK: - Locating the doozerd binary

enum DoozerdBinary {
    static let path: Result<String, HarnessError> = locate()

    private static func locate() -> Result<String, HarnessError> {
        let fm = FileManager.default
        let env = ProcessInfo.processInfo.environment
        // An explicit path is used as given: a wrong one is an error, never a quiet fallback
        // to whatever build happens to lie next to the test bundle.
        if let explicit = env["DOOZERD_BINARY"] {
            guard fm.isExecutableFile(atPath: explicit) else {
                return .failure(HarnessError("DOOZERD_BINARY=\(explicit) is not an executable file"))
            }
            return .success(explicit)
        }
        var starts: [URL] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let first = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        starts.append(Bundle.main.bundleURL)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            starts.append(bundle.bundleURL.deletingLastPathComponent())
        }
        var searched: [String] = []
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<6 {
                let candidate = dir.appendingPathComponent("doozerd").path
                searched.append(dir.path)
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                   fm.isExecutableFile(atPath: candidate) {
                    return .success(candidate)
                }
                if dir.path == "/" { break }
                dir = dir.deletingLastPathComponent()
            }
        }
        return .failure(HarnessError(
            "cannot find the doozerd executable next to the test bundle; searched: "
                + searched.joined(separator: ", ")
                + ". Build it (swift build --product doozerd) or set DOOZERD_BINARY."))
    }

    static func get() throws -> String { try path.get() }
}

// MARK: - Loopback endpoints

enum Loopback {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var usedHosts: Set<Int> = []

    /// Reserves a fresh address 127.0.0.X (X in 2…250, never handed out twice in this process).
    static func freshHost() -> String {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<1000 {
            let x = Int.random(in: 2...250)
            if !usedHosts.contains(x) {
                usedHosts.insert(x)
                return "127.0.0.\(x)"
            }
        }
        return "127.0.0.\(Int.random(in: 2...250))"
    }

    /// A port on `host` that is free for both TCP and UDP right now.
    static func freePort(on host: String) throws -> UInt16 {
        for _ in 0..<50 {
            let fd = socket(AF_INET, sockStream, 0)
            guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
            var address = try socketAddress(host: host, port: 0)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let message = errnoText()
                close(fd)
                throw HarnessError("bind \(host):0: \(message)")
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            close(fd)
            let port = UInt16(bigEndian: address.sin_port)
            // The server also binds UDP on the same port.
            let udp = socket(AF_INET, sockDgram, 0)
            var udpAddress = try socketAddress(host: host, port: port)
            let udpBound = withUnsafePointer(to: &udpAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(udp, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(udp)
            if udpBound == 0 { return port }
        }
        throw HarnessError("no free TCP+UDP port on \(host)")
    }

    /// A socket bound to `host`:`port` (and listening, for TCP), so a doozerd cannot bind it:
    /// its descriptor, for the caller to close.
    static func occupy(_ host: String, _ port: UInt16, udp: Bool = false) throws -> Int32 {
        let fd = socket(AF_INET, udp ? sockDgram : sockStream, 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
        var address = try socketAddress(host: host, port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, udp || listen(fd, 1) == 0 else {
            let message = errnoText()
            close(fd)
            throw HarnessError("occupy \(host):\(port): \(message)")
        }
        return fd
    }

    /// Whether something accepts TCP connections on host:port right now.
    static func isListening(host: String, port: UInt16) -> Bool {
        guard let connection = try? TestConnection(host: host, port: port, timeout: 1) else { return false }
        connection.close()
        return true
    }
}

// MARK: - A blocking client connection

/// How a connection ended in `expectClosed`.
enum CloseOutcome: Equatable {
    /// Orderly EOF, after `extraBytes` unexpected bytes.
    case closed(extraBytes: Int)
    /// ECONNRESET, after `extraBytes` unexpected bytes.
    case reset(extraBytes: Int)
    /// Still open when the timeout expired.
    case stillOpen(extraBytes: Int)

    var isClosed: Bool {
        switch self {
        case .closed, .reset: return true
        case .stillOpen: return false
        }
    }

    var extraBytes: Int {
        switch self {
        case .closed(let n), .reset(let n), .stillOpen(let n): return n
        }
    }
}

/// One TCP connection to a doozerd, with blocking I/O and a receive timeout so that a missing
/// response fails the test instead of hanging it.
final class TestConnection: @unchecked Sendable {
    let fd: Int32
    let endpoint: String
    private(set) var timeout: Double
    private var tagCounter: Int32 = 0
    /// Responses read while looking for another tag, in arrival order.
    private(set) var stash: [Response] = []
    private(set) var isClosed = false

    /// `source`: the local loopback address to connect from (any port), so a test can play
    /// several client hosts; nil lets the kernel choose.
    init(host: String, port: UInt16, timeout: Double = 5, receiveBufferSize: Int32? = nil, source: String? = nil) throws {
        _ = ignoreSigPipe
        endpoint = "\(host):\(port)"
        self.timeout = timeout
        fd = socket(AF_INET, sockStream, 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
        if var size = receiveBufferSize {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = try socketAddress(host: source, port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let message = errnoText()
                sysClose(fd)
                throw HarnessError("bind \(source):0: \(message)")
            }
        }
        var address = try socketAddress(host: host, port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let message = errnoText()
            sysClose(fd)
            throw HarnessError("connect \(host):\(port): \(message)")
        }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setTimeout(fd, SO_RCVTIMEO, seconds: timeout)
        setTimeout(fd, SO_SNDTIMEO, seconds: max(timeout, 10))
    }

    deinit { close() }

    func close() {
        if !isClosed {
            isClosed = true
            _ = shutdown(fd, Int32(SHUT_RDWR))
            sysClose(fd)
        }
    }

    func setReceiveTimeout(_ seconds: Double) {
        timeout = seconds
        setTimeout(fd, SO_RCVTIMEO, seconds: seconds)
    }

    func nextTag() -> Int32 {
        tagCounter &+= 1
        return tagCounter
    }

    // MARK: Sending

    func sendRaw(_ data: [UInt8]) throws {
        var sent = 0
        while sent < data.count {
            let n = data.withUnsafeBytes { buffer in
                sysSend(fd, buffer.baseAddress! + sent, data.count - sent, noSigPipe)
            }
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw HarnessError("send to \(endpoint) failed after \(sent)/\(data.count) bytes: \(errnoText())")
            }
        }
    }

    func send(_ request: Request) throws { try sendRaw(Framing.frame(request.encoded())) }

    // MARK: Receiving

    private func receiveExactly(_ count: Int, into buffer: inout [UInt8]) throws {
        var have = 0
        while have < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + have, count - have, 0)
            }
            if n > 0 {
                have += n
            } else if n == 0 {
                throw HarnessError("connection \(endpoint) closed by the server (after \(have)/\(count) bytes of a frame)")
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                throw HarnessError("timed out after \(timeout)s waiting for a response from \(endpoint)")
            } else {
                throw HarnessError("recv from \(endpoint): \(errnoText())")
            }
        }
    }

    /// Reads one frame from the socket and returns its payload.
    func receiveFrame() throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 4)
        try receiveExactly(4, into: &header)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= 64 << 20 else { throw HarnessError("implausible response frame length \(length)") }
        var payload = [UInt8](repeating: 0, count: length)
        if length > 0 { try receiveExactly(length, into: &payload) }
        return payload
    }

    private func readResponse() throws -> Response {
        let payload = try receiveFrame()
        do {
            return try Response(decoding: payload)
        } catch {
            throw HarnessError("undecodable response payload (\(error)): \(hex(Array(payload.prefix(64))))")
        }
    }

    /// The next response (stashed ones first).
    func receive() throws -> Response {
        if !stash.isEmpty { return stash.removeFirst() }
        return try readResponse()
    }

    /// The next response carrying `tag`; others read meanwhile are stashed.
    func receive(tag: Int32?) throws -> Response {
        if let index = stash.firstIndex(where: { $0.tag == tag }) { return stash.remove(at: index) }
        while true {
            let response = try readResponse()
            if response.tag == tag { return response }
            stash.append(response)
        }
    }

    /// Sends `request` (with a fresh tag if it has none) and returns the response with its tag.
    func call(_ request: Request) throws -> Response {
        var request = request
        if request.tag == nil { request.tag = nextTag() }
        try send(request)
        return try receive(tag: request.tag)
    }

    /// Whether bytes (or EOF) are readable within `seconds`.
    func isReadable(within seconds: Double = 0) -> Bool {
        if !stash.isEmpty { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&pfd, 1, Int32(seconds * 1000))
        return n > 0
    }

    /// Reads until EOF or reset, counting stray bytes; gives up after `seconds`.
    func expectClosed(within seconds: Double = 5) -> CloseOutcome {
        let deadline = now() + seconds
        var extra = stash.count
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = deadline - now()
            if remaining <= 0 { return .stillOpen(extraBytes: extra) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(1, remaining * 1000)))
            if ready == 0 { return .stillOpen(extraBytes: extra) }
            if ready < 0 {
                if errno == EINTR { continue }
                return .stillOpen(extraBytes: extra)
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                extra += n
            } else if n == 0 {
                return .closed(extraBytes: extra)
            } else if errno == ECONNRESET {
                return .reset(extraBytes: extra)
            } else if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK {
                continue
            } else {
                return .reset(extraBytes: extra)
            }
        }
    }
}

// MARK: - Verb helpers

extension TestConnection {
    func rev() throws -> Int64 {
        let response = try call(Request(verb: .rev))
        guard let rev = response.rev, response.errCode == nil else {
            throw HarnessError("REV answered \(response.brief)")
        }
        return rev
    }

    func get(_ path: String?, rev: Int64? = nil) throws -> Response {
        try call(Request(verb: .get, path: path, rev: rev))
    }

    func set(_ path: String?, _ value: [UInt8]?, rev: Int64?) throws -> Response {
        try call(Request(verb: .set, path: path, value: value, rev: rev))
    }

    func set(_ path: String?, _ value: String, rev: Int64?) throws -> Response {
        try set(path, bytes(value), rev: rev)
    }

    func del(_ path: String?, rev: Int64?) throws -> Response {
        try call(Request(verb: .del, path: path, rev: rev))
    }

    func wait(_ glob: String?, rev: Int64?) throws -> Response {
        try call(Request(verb: .wait, path: glob, rev: rev))
    }

    func walk(_ glob: String?, offset: Int32?, rev: Int64? = nil) throws -> Response {
        try call(Request(verb: .walk, path: glob, offset: offset, rev: rev))
    }

    func getdir(_ path: String?, offset: Int32?, rev: Int64? = nil) throws -> Response {
        try call(Request(verb: .getdir, path: path, offset: offset, rev: rev))
    }

    func stat(_ path: String?, rev: Int64? = nil) throws -> Response {
        try call(Request(verb: .stat, path: path, rev: rev))
    }

    func selfID() throws -> Response { try call(Request(verb: .self)) }

    func nop() throws -> Response { try call(Request(verb: .nop)) }

    func access(_ secret: String?) throws -> Response {
        try call(Request(verb: .access, value: secret.map(bytes)))
    }

    /// A SET that must succeed; returns the committed rev.
    @discardableResult
    func mustSet(_ path: String, _ value: String, rev: Int64 = -1) throws -> Int64 {
        try mustSet(path, bytes(value), rev: rev)
    }

    @discardableResult
    func mustSet(_ path: String, _ value: [UInt8], rev: Int64 = -1) throws -> Int64 {
        let response = try set(path, value, rev: rev)
        guard response.errCode == nil, let committed = response.rev else {
            throw HarnessError("SET \(path) rev \(rev) failed: \(response.brief)")
        }
        return committed
    }

    /// The node id (SELF).
    func nodeID() throws -> String {
        let response = try selfID()
        guard let value = response.value, response.errCode == nil else {
            throw HarnessError("SELF answered \(response.brief)")
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// GETDIR at offsets 0, 1, … until RANGE.
    func listDir(_ path: String, rev: Int64? = nil, limit: Int32 = 1000) throws -> [String] {
        var names: [String] = []
        for offset in 0..<limit {
            let response = try getdir(path, offset: offset, rev: rev)
            if response.error == .range { return names }
            guard response.errCode == nil, let name = response.path else {
                throw HarnessError("GETDIR \(path) offset \(offset) answered \(response.brief)")
            }
            names.append(name)
        }
        throw HarnessError("GETDIR \(path): more than \(limit) entries")
    }

    /// Full paths returned by WALK(glob) at offsets 0, 1, … until RANGE.
    func walkAll(_ glob: String, rev: Int64? = nil, limit: Int32 = 10000) throws -> [Response] {
        var found: [Response] = []
        for offset in 0..<limit {
            let response = try walk(glob, offset: offset, rev: rev)
            if response.error == .range { return found }
            guard response.errCode == nil else {
                throw HarnessError("WALK \(glob) offset \(offset) answered \(response.brief)")
            }
            found.append(response)
        }
        throw HarnessError("WALK \(glob): more than \(limit) matches")
    }
}

// MARK: - A doozerd process

final class DoozerdProcess: @unchecked Sendable {
    struct Config: @unchecked Sendable {
        /// Extra arguments after `-l` (and `-w false` unless `webEnabled`).
        var arguments: [String] = []
        /// DOOZER_* variables for the server; everything else is inherited minus DOOZER_*.
        var environment: [String: String] = [:]
        /// Leave `-w` out (web view on its default address) instead of passing `-w false`.
        var webEnabled = false
        /// Spelling of the host in `-l` (e.g. "localhost"); the harness still connects to `host`.
        var listenHostSpelling: String? = nil
        /// Fixed host to listen on instead of a fresh 127.0.0.X.
        var host: String? = nil
        /// Fixed port (e.g. the default 8046 for cluster tests) instead of a free one.
        var port: UInt16? = nil
        var readyTimeout: Double = 15
        /// Return as soon as the process runs, without waiting for it to answer.
        var skipReadiness = false

        init(arguments: [String] = [], environment: [String: String] = [:], webEnabled: Bool = false) {
            self.arguments = arguments
            self.environment = environment
            self.webEnabled = webEnabled
        }

        var rwSecret: String? { environment["DOOZER_RWSECRET"].flatMap { $0.isEmpty ? nil : $0 } }
    }

    struct Exit: CustomStringConvertible {
        let status: Int32
        let reason: Process.TerminationReason
        /// SIGKILL was needed because the process did not exit in time.
        let killed: Bool
        var description: String {
            "\(reason == .exit ? "exit status" : "signal") \(status)\(killed ? " (SIGKILLed after timeout)" : "")"
        }
    }

    let host: String
    let port: UInt16
    let config: Config
    let process = Process()
    let stderrURL: URL
    let stdoutURL: URL
    private(set) var nodeID = ""
    private let exited = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var exitInfo: Exit?

    var address: String { "\(host):\(port)" }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Whether it exited without anyone calling `stop` (a crash or an unexpected exit).
    var diedUnexpectedly: Bool {
        lock.lock()
        defer { lock.unlock() }
        return exitInfo == nil && !process.isRunning
    }

    init(_ config: Config = Config()) throws {
        self.config = config
        host = config.host ?? Loopback.freshHost()
        port = try config.port ?? Loopback.freePort(on: host)
        let binary = try DoozerdBinary.get()
        let tmp = FileManager.default.temporaryDirectory
        let stem = "doozerd-conformance-\(getpid())-\(host)-\(port)"
        stderrURL = tmp.appendingPathComponent(stem + ".stderr")
        stdoutURL = tmp.appendingPathComponent(stem + ".stdout")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)

        var arguments = ["-l", "\(config.listenHostSpelling ?? host):\(port)"]
        if !config.webEnabled { arguments += ["-w", "false"] }
        arguments += config.arguments
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = DoozerdProcess.environment(with: config.environment)
        process.standardInput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if config.skipReadiness { return }
        do {
            try waitReady()
        } catch {
            let exit = stop(timeout: 2)
            let tail = stderrTail()
            removeLogs()
            throw HarnessError("doozerd \(arguments.joined(separator: " ")) did not become ready: \(error); "
                + "\(exit); stderr:\n\(tail)")
        }
    }

    static func environment(with extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DOOZER_") }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// Ready = answers REV with rev ≥ 57 and (within a short grace period) has written
    /// /ctl/node/<id>/writable. Bounded retry loop; never a fixed sleep.
    private func waitReady() throws {
        let deadline = now() + config.readyTimeout
        var connection: TestConnection?
        var lastProblem = "no connection yet"
        while now() < deadline {
            guard process.isRunning else { throw HarnessError("process exited early (\(lastProblem))") }
            if connection == nil {
                do {
                    connection = try TestConnection(host: host, port: port, timeout: 2)
                } catch {
                    lastProblem = "\(error)"
                    pause(0.02)
                    continue
                }
            }
            do {
                let rev = try connection!.rev()
                if rev >= 57 { break }
                lastProblem = "rev \(rev) < 57"
            } catch {
                lastProblem = "\(error)"
                connection?.close()
                connection = nil
            }
            pause(0.02)
        }
        guard let connection, now() < deadline else {
            throw HarnessError("not ready within \(config.readyTimeout)s: \(lastProblem)")
        }
        defer { connection.close() }
        if let secret = config.rwSecret { _ = try connection.access(secret) }
        nodeID = try connection.nodeID()
        // Grace period for the writable flag (rev 57 or a little later).
        let writableDeadline = min(deadline, now() + 3)
        while now() < writableDeadline {
            let response = try connection.get("/ctl/node/\(nodeID)/writable")
            if response.errCode == nil, (response.rev ?? 0) > 0 { return }
            pause(0.02)
        }
    }

    /// A new connection to this server.
    func connect(timeout: Double = 5, receiveBufferSize: Int32? = nil) throws -> TestConnection {
        try TestConnection(host: host, port: port, timeout: timeout, receiveBufferSize: receiveBufferSize)
    }

    /// Sends `signal` (SIGTERM by default), waits up to `timeout` for the exit, then SIGKILLs.
    @discardableResult
    func stop(signal sig: Int32 = SIGTERM, timeout: Double = 5) -> Exit {
        lock.lock()
        defer { lock.unlock() }
        if let exitInfo { return exitInfo }
        var killed = false
        if process.isRunning { kill(process.processIdentifier, sig) }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            killed = true
            kill(process.processIdentifier, SIGKILL)
            _ = exited.wait(timeout: .now() + 10)
        }
        process.waitUntilExit()
        let info = Exit(status: process.terminationStatus, reason: process.terminationReason, killed: killed)
        exitInfo = info
        return info
    }

    /// The last `limit` bytes the server wrote to stderr.
    func stderrTail(_ limit: Int = 3000) -> String {
        guard let data = try? Data(contentsOf: stderrURL) else { return "<no stderr>" }
        return String(decoding: data.suffix(limit), as: UTF8.self)
    }

    /// Resident set size in KiB (from /proc/<pid>/status), or nil.
    func rssKiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.split(separator: " ").compactMap { Int($0) }
            return digits.first
        }
        return nil
    }

    func removeLogs() {
        try? FileManager.default.removeItem(at: stderrURL)
        try? FileManager.default.removeItem(at: stdoutURL)
    }
}

// MARK: - Running doozerd to completion (flag tests)

struct ProcessOutcome {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: String
    let stderr: String
    /// The process did not exit by itself within the timeout and was killed.
    let timedOut: Bool

    var summary: String {
        "status \(status) (\(reason == .exit ? "exit" : "signal"))\(timedOut ? " after timeout" : ""); "
            + "stdout: \(stdout.prefix(400).debugDescription); stderr: \(stderr.prefix(600).debugDescription)"
    }
}

/// What a child process run to its exit left behind.
struct RawRun {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: [UInt8]
    let stderr: [UInt8]
    let timedOut: Bool
    let elapsed: Double
}

/// Runs `binary arguments` with `stdin` (nil: /dev/null) and the test environment plus
/// `environment`, and waits up to `timeout` seconds for it to exit (then SIGKILLs it).
func runToExit(_ binary: String, _ arguments: [String], stdin: [UInt8]?, environment: [String: String],
               timeout: Double) throws -> RawRun {
    let tmp = FileManager.default.temporaryDirectory
    let stem = "doozer-tests-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let inURL = tmp.appendingPathComponent(stem + ".stdin")
    let outURL = tmp.appendingPathComponent(stem + ".stdout")
    let errURL = tmp.appendingPathComponent(stem + ".stderr")
    _ = FileManager.default.createFile(atPath: inURL.path, contents: Data(stdin ?? []))
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        for url in [inURL, outURL, errURL] { try? FileManager.default.removeItem(at: url) }
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.environment = DoozerdProcess.environment(with: environment)
    process.standardInput = stdin == nil ? FileHandle.nullDevice : try FileHandle(forReadingFrom: inURL)
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    let done = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in done.signal() }
    let start = now()
    try process.run()
    var timedOut = false
    if done.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
        _ = done.wait(timeout: .now() + 10)
    }
    process.waitUntilExit()
    let elapsed = now() - start
    let out = (try? Data(contentsOf: outURL)).map { [UInt8]($0) } ?? []
    let err = (try? Data(contentsOf: errURL)).map { [UInt8]($0) } ?? []
    return RawRun(status: process.terminationStatus, reason: process.terminationReason,
                  stdout: out, stderr: err, timedOut: timedOut, elapsed: elapsed)
}

/// Runs doozerd with exactly `arguments` and waits (up to `timeout`) for it to exit on its own.
func runDoozerd(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 5) throws -> ProcessOutcome {
    let run = try runToExit(try DoozerdBinary.get(), arguments, stdin: nil, environment: environment, timeout: timeout)
    return ProcessOutcome(status: run.status, reason: run.reason,
                          stdout: String(decoding: run.stdout, as: UTF8.self),
                          stderr: String(decoding: run.stderr, as: UTF8.self), timedOut: run.timedOut)
}

// MARK: - Shared servers and the base test case

/// One server per XCTestCase subclass, started by its first test and stopped by `class tearDown`.
final class SharedServers: @unchecked Sendable {
    static let shared = SharedServers()
    private let lock = NSLock()
    private var servers: [ObjectIdentifier: DoozerdProcess] = [:]
    /// A failed start is not retried for every test of the class.
    private var failures: [ObjectIdentifier: Error] = [:]

    func server(for type: AnyClass, config: DoozerdProcess.Config) throws -> DoozerdProcess {
        lock.lock()
        defer { lock.unlock() }
        let key = ObjectIdentifier(type)
        if let failure = failures[key] { throw HarnessError("shared server failed to start earlier: \(failure)") }
        if let existing = servers[key] {
            if existing.isRunning { return existing }
            // It died during an earlier test (reported there); start a fresh one.
            servers[key] = nil
            existing.stop(timeout: 1)
            existing.removeLogs()
        }
        do {
            let server = try DoozerdProcess(config)
            servers[key] = server
            return server
        } catch {
            failures[key] = error
            throw error
        }
    }

    func stop(for type: AnyClass) {
        lock.lock()
        let server = servers.removeValue(forKey: ObjectIdentifier(type))
        failures[ObjectIdentifier(type)] = nil
        lock.unlock()
        if let server {
            server.stop()
            server.removeLogs()
        }
    }
}

class DoozerdTestCase: XCTestCase {
    /// The shared server of this class; nil = the class starts none.
    class var serverConfig: DoozerdProcess.Config? { DoozerdProcess.Config() }

    private(set) var server: DoozerdProcess!
    private var connections: [TestConnection] = []
    private var dedicated: [DoozerdProcess] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        continueAfterFailure = true
        if let config = type(of: self).serverConfig {
            server = try SharedServers.shared.server(for: type(of: self), config: config)
        }
    }

    override func tearDown() {
        for connection in connections { connection.close() }
        connections = []
        if let server, server.diedUnexpectedly {
            XCTFail("doozerd \(server.address) died during \(name): \(server.stop(timeout: 1)); stderr:\n\(server.stderrTail())")
        }
        for process in dedicated {
            if process.diedUnexpectedly {
                XCTFail("dedicated doozerd \(process.address) died during \(name): \(process.stop(timeout: 1)); stderr:\n\(process.stderrTail())")
            }
            process.stop()
            process.removeLogs()
        }
        dedicated = []
        server = nil
        super.tearDown()
    }

    override class func tearDown() {
        SharedServers.shared.stop(for: self)
        super.tearDown()
    }

    /// A connection to the shared server (closed in tearDown).
    func connect(timeout: Double = 5) throws -> TestConnection {
        try connect(to: server, timeout: timeout)
    }

    func connect(to process: DoozerdProcess, timeout: Double = 5, receiveBufferSize: Int32? = nil) throws -> TestConnection {
        let connection = try process.connect(timeout: timeout, receiveBufferSize: receiveBufferSize)
        connections.append(connection)
        return connection
    }

    /// A server only for this test (stopped in tearDown).
    func startServer(_ config: DoozerdProcess.Config) throws -> DoozerdProcess {
        let process = try DoozerdProcess(config)
        dedicated.append(process)
        return process
    }

    /// The shared server's node id.
    var nodeID: String { server.nodeID }

    // MARK: Assertions

    func assertError(_ response: Response, _ code: ErrorCode, detail: String? = nil, _ item: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.errCode, code.rawValue, "\(item): expected \(code), got \(response.brief)",
                       file: file, line: line)
        if let detail {
            XCTAssertEqual(response.errDetail, detail, "\(item): error detail of \(response.brief)", file: file, line: line)
        }
    }

    func assertOK(_ response: Response, _ item: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(response.errCode, "\(item): unexpected error \(response.brief)", file: file, line: line)
    }

    /// Asserts that `response` is exactly `expected` (no extra fields).
    func assertExactly(_ response: Response, _ expected: Response, _ item: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response, expected, "\(item): got \(response.brief), expected \(expected.brief)",
                       file: file, line: line)
    }
}
