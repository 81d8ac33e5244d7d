/// One HTTP/1.1 response, described and serialised. A value: it owns its body and knows
/// nothing about sockets. Every response closes its connection (`Connection: close`), so
/// the server never has to frame a second request on the same connection.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: HTTPStatus, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A short plain-text response (errors).
    public static func text(_ status: HTTPStatus, _ text: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers,
                     body: Array(text.utf8))
    }

    /// Headers every response carries.
    static let common: [(name: String, value: String)] = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
    ]

    /// Status line, headers (with `Content-Length`) and — unless `includeBody` is false, for
    /// HEAD — the body.
    public func encoded(includeBody: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + (includeBody ? body.count : 0))
        out.append(contentsOf: "HTTP/1.1 \(status.rawValue) \(status.reason)\r\n".utf8)
        for (name, value) in headers + Self.common {
            out.append(contentsOf: "\(name): \(value)\r\n".utf8)
        }
        out.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
        if includeBody { out.append(contentsOf: body) }
        return out
    }

    /// The head of an endless `text/event-stream` response (no length: the stream ends when
    /// the connection closes).
    public static func eventStreamHead() -> [UInt8] {
        var out: [UInt8] = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n".utf8)
        for (name, value) in common { out.append(contentsOf: "\(name): \(value)\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// The first bytes of an event stream's body: the reconnection delay.
    public static func eventStreamPreamble(retryMilliseconds: Int = 2000) -> [UInt8] {
        Array("retry: \(retryMilliseconds)\n\n".utf8)
    }
}
