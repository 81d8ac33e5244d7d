/// An HTTP status the web view answers with.
public enum HTTPStatus: Int, Sendable {
    case ok = 200
    case badRequest = 400
    case unauthorized = 401
    case notFound = 404
    case methodNotAllowed = 405
    case headersTooLarge = 431
    case serviceUnavailable = 503
    case versionNotSupported = 505

    public var reason: String {
        switch self {
        case .ok: "OK"
        case .badRequest: "Bad Request"
        case .unauthorized: "Unauthorized"
        case .notFound: "Not Found"
        case .methodNotAllowed: "Method Not Allowed"
        case .headersTooLarge: "Request Header Fields Too Large"
        case .serviceUnavailable: "Service Unavailable"
        case .versionNotSupported: "HTTP Version Not Supported"
        }
    }
}

/// The head of one HTTP/1.x request: request line and header fields, validated. A value that
/// owns copies of its bytes; it never refers back to the buffer it was parsed from.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method token exactly as sent (methods are case-sensitive).
    public var method: String
    /// The request target exactly as sent: origin form (`/p?q`) or absolute form (`http://h/p?q`).
    public var target: String
    /// The target's path, percent-decoded (may hold any byte).
    public var path: [UInt8]
    /// The raw query after `?`, without the `?`; nil when the target has none.
    public var query: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order, names lower-cased, values with surrounding blanks trimmed.
    public var headers: [(name: String, value: [UInt8])]

    public init(method: String, target: String, path: [UInt8], query: String?, minorVersion: Int,
                headers: [(name: String, value: [UInt8])]) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.minorVersion = minorVersion
        self.headers = headers
    }

    /// The value of the first field called `name` (lower-case).
    public func header(_ name: String) -> [UInt8]? {
        headers.first { $0.name == name }?.value
    }

    /// The percent-decoded value of the first query parameter called `name` (`+` is a space).
    public func queryParameter(_ name: String) -> [UInt8]? {
        guard let query else { return nil }
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecode(parts[0], plusIsSpace: true), key.elementsEqual(name.utf8) else { continue }
            return parts.count > 1 ? percentDecode(parts[1], plusIsSpace: true) : []
        }
        return nil
    }

    public static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query
            && a.minorVersion == b.minorVersion && a.headers.elementsEqual(b.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// Decodes `%XX` escapes (and `+` as a space when asked); nil on a malformed escape.
func percentDecode(_ bytes: some Collection<UInt8>, plusIsSpace: Bool) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var iterator = bytes.makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            out.append(high << 4 | low)
        } else if plusIsSpace && byte == UInt8(ascii: "+") {
            out.append(UInt8(ascii: " "))
        } else {
            out.append(byte)
        }
    }
    return out
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// An incremental parser of one HTTP/1.x request head. Feed it the connection's whole input
/// buffer after every read; it remembers how far it has already looked for the blank line, so
/// scanning stays linear. It owns no buffer, never reads past the head, and never traps on
/// any input: malformed or oversized heads come back as the status to answer with.
public struct HTTPHeadParser: Sendable {
    /// Largest head (request line + fields + blank line) accepted; larger → 431.
    public let maxHeadSize: Int
    /// Most header fields accepted; more → 431.
    public let maxHeaderCount: Int
    private var scanned = 0

    public init(maxHeadSize: Int = 8192, maxHeaderCount: Int = 64) {
        self.maxHeadSize = max(16, maxHeadSize)
        self.maxHeaderCount = max(1, maxHeaderCount)
    }

    public enum Outcome: Sendable, Equatable {
        /// No complete head yet; read more and call again with the grown buffer.
        case incomplete
        /// A valid head that took `length` bytes of the input.
        case head(HTTPRequestHead, length: Int)
        /// Answer with this status and close.
        case reject(HTTPStatus)
    }

    /// Looks for a complete head at the start of `input` (the same buffer, grown, each call).
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> Outcome {
        // Blank lines before the request line are ignored (RFC 9112 §2.2).
        var start = 0
        while start < input.count, input[start] == 0x0D || input[start] == 0x0A { start += 1 }
        if start >= maxHeadSize { return .reject(.badRequest) }
        if start == input.count { return .incomplete }

        var index = max(start, scanned)
        var end = -1
        while index < input.count {
            if input[index] == 0x0A {
                // "\n\n" or "\n\r\n" ends the head.
                if index + 1 < input.count, input[index + 1] == 0x0A { end = index + 2; break }
                if index + 2 < input.count, input[index + 1] == 0x0D, input[index + 2] == 0x0A { end = index + 3; break }
            }
            if index >= maxHeadSize { return .reject(.headersTooLarge) }
            index += 1
        }
        if end < 0 {
            // Re-examine the last two bytes next time: the terminator may straddle reads.
            scanned = max(start, input.count - 2)
            return input.count >= maxHeadSize ? .reject(.headersTooLarge) : .incomplete
        }
        if end > maxHeadSize { return .reject(.headersTooLarge) }
        switch Self.parseHead(UnsafeRawBufferPointer(rebasing: input[start..<end]), maxHeaderCount: maxHeaderCount) {
        case .success(let head): return .head(head, length: end)
        case .failure(let status): return .reject(status.status)
        }
    }

    struct Failure: Error { let status: HTTPStatus }

    /// Parses request line and fields of a complete head (which ends with a blank line).
    static func parseHead(_ head: UnsafeRawBufferPointer, maxHeaderCount: Int) -> Result<HTTPRequestHead, Failure> {
        var lines: [UnsafeRawBufferPointer] = []
        var lineStart = 0
        for i in 0..<head.count where head[i] == 0x0A {
            var lineEnd = i
            if lineEnd > lineStart, head[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            lines.append(UnsafeRawBufferPointer(rebasing: head[lineStart..<lineEnd]))
            lineStart = i + 1
        }
        // The last line is the blank terminator.
        guard lines.count >= 2, lines[lines.count - 1].isEmpty else { return .failure(Failure(status: .badRequest)) }
        lines.removeLast()
        guard lines.count - 1 <= maxHeaderCount else { return .failure(Failure(status: .headersTooLarge)) }

        // Request line: method SP target SP version, single spaces.
        let requestLine = lines[0]
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(Failure(status: .badRequest)) }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.count <= 32, method.allSatisfy(isTokenByte) else { return .failure(Failure(status: .badRequest)) }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .failure(Failure(status: .badRequest)) }
        let minor: Int
        switch Array(version) {
        case Array("HTTP/1.1".utf8): minor = 1
        case Array("HTTP/1.0".utf8): minor = 0
        case let v where v.count == 8 && v.starts(with: "HTTP/".utf8) && isDigit(v[5]) && v[6] == UInt8(ascii: ".") && isDigit(v[7]):
            return .failure(Failure(status: .versionNotSupported))
        default:
            return .failure(Failure(status: .badRequest))
        }
        guard let origin = originForm(target) else { return .failure(Failure(status: .badRequest)) }
        let question = origin.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = origin[..<(question ?? origin.endIndex)]
        guard var path = percentDecode(rawPath, plusIsSpace: false) else { return .failure(Failure(status: .badRequest)) }
        if path.isEmpty { path = [UInt8(ascii: "/")] }   // `http://host` and `http://host?q` mean `/`
        let query = question.map { String(decoding: origin[origin.index(after: $0)...], as: UTF8.self) }

        var headers: [(name: String, value: [UInt8])] = []
        headers.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return .failure(Failure(status: .badRequest)) }
            let name = line[..<colon]
            // A leading blank is obsolete line folding; a blank before the colon is forbidden.
            guard name.allSatisfy(isTokenByte) else { return .failure(Failure(status: .badRequest)) }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { return .failure(Failure(status: .badRequest)) }
            headers.append((String(decoding: name, as: UTF8.self).lowercased(), Array(value)))
        }
        return .success(HTTPRequestHead(method: String(decoding: method, as: UTF8.self),
                                        target: String(decoding: target, as: UTF8.self),
                                        path: path, query: query, minorVersion: minor, headers: headers))
    }
}

/// The path-and-query part of a request target: the target itself in origin form (`/p?q`), or
/// what follows the authority in absolute form (`http://host:port/p?q`, RFC 9112 §3.2.2; the
/// authority is not used: this server has one site). Nil for any other form, another scheme, or
/// an authority with user information (RFC 9110 §4.2.4 asks to treat that as an error).
private func originForm(_ target: UnsafeRawBufferPointer.SubSequence) -> UnsafeRawBufferPointer.SubSequence? {
    if target.first == UInt8(ascii: "/") { return target }
    var schemeEnd = target.startIndex
    while schemeEnd < target.endIndex, target[schemeEnd] != UInt8(ascii: ":") { schemeEnd += 1 }
    let scheme = target[..<schemeEnd].map { $0 | 0x20 }
    guard scheme == Array("http".utf8) || scheme == Array("https".utf8),
          target[schemeEnd...].starts(with: "://".utf8) else { return nil }
    let authorityStart = schemeEnd + 3
    var authorityEnd = authorityStart
    while authorityEnd < target.endIndex, target[authorityEnd] != UInt8(ascii: "/"), target[authorityEnd] != UInt8(ascii: "?") {
        authorityEnd += 1
    }
    let authority = target[authorityStart..<authorityEnd]
    guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return nil }
    return target[authorityEnd...]
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

/// RFC 9110 `tchar`.
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}
