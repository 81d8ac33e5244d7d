import CShims
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address. Its `description` (`127.0.0.1:8046`, `[::1]:8046`) is the
/// string form doozer uses as a node's network identity.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address bytes exactly as the kernel takes them.
    public private(set) var storage: sockaddr_storage
    public let length: socklen_t

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: UInt16 {
        withSockaddr { sa, _ in
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            default:
                return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        }
    }

    /// The numeric host, without brackets.
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withSockaddr { sa, _ in
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
                }
            default:
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var a = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
                }
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The same host with another port.
    public func withPort(_ port: UInt16) -> SocketAddress {
        var copy = self
        withUnsafeMutableBytes(of: &copy.storage) { raw in
            let sa = raw.baseAddress!
            if family == AF_INET {
                sa.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port = port.bigEndian
            } else {
                sa.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port = port.bigEndian
            }
        }
        return copy
    }

    /// Whether `other` names the same host (family and address; ports may differ).
    public func hasSameHost(as other: SocketAddress) -> Bool {
        guard family == other.family else { return false }
        return withSockaddr { a, _ in
            other.withSockaddr { b, _ in
                if family == AF_INET {
                    return a.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { x in
                        b.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { y in
                            x.pointee.sin_addr.s_addr == y.pointee.sin_addr.s_addr
                        }
                    }
                }
                return a.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { x in
                    b.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { y in
                        withUnsafeBytes(of: x.pointee.sin6_addr) { p in
                            withUnsafeBytes(of: y.pointee.sin6_addr) { q in p.elementsEqual(q) }
                        }
                    }
                }
            }
        }
    }

    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.length == b.length && withUnsafeBytes(of: a.storage) { x in
            withUnsafeBytes(of: b.storage) { y in memcmp(x.baseAddress!, y.baseAddress!, Int(a.length)) == 0 }
        }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: storage) { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0[..<Int(length)])) }
    }
}

/// Why a `host:port` string could not be turned into an address.
public struct AddressError: Error, CustomStringConvertible, Sendable {
    public let input: String
    public let reason: String
    public var description: String { "\(input): \(reason)" }
}

extension SocketAddress {
    /// Parses `host:port` or `[v6host]:port`; a host name is resolved once (blocking; meant
    /// for start-up and command lines, never the event loop).
    public static func resolve(_ text: String) throws(AddressError) -> SocketAddress {
        guard let colon = text.lastIndex(of: ":") else {
            throw AddressError(input: text, reason: "missing port (want host:port)")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else {
            throw AddressError(input: text, reason: "bad port \"\(portText)\"")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty {
            throw AddressError(input: text, reason: "missing host (doozer needs a concrete address, not a wildcard)")
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw AddressError(input: text, reason: reason)
        }
        defer { freeaddrinfo(list) }
        // Prefer IPv4 when a name resolves to both, as "localhost" commonly does.
        var chosen = first
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if entry.pointee.ai_family == AF_INET { chosen = entry; break }
            cursor = entry.pointee.ai_next
        }
        var storage = sockaddr_storage()
        let length = chosen.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.baseAddress!.copyMemory(from: chosen.pointee.ai_addr, byteCount: Int(length))
        }
        return SocketAddress(storage: storage, length: length)
    }
}
