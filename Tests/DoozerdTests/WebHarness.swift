// HTTP helpers for the web view tests: a one-request HTTP/1.1 client over the harness's
// loopback TCP connections, an event-stream reader, and the web address a server logged.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP answer, read until the server closed the connection.
struct HTTPReply: CustomStringConvertible {
    let status: Int
    /// Header names lower-cased.
    let headers: [String: String]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var contentType: String { headers["content-type"] ?? "" }
    var description: String { "HTTP \(status) \(headers) \(text.prefix(300).debugDescription)" }
}

enum WebClient {
    /// Sends `raw` bytes as they are and reads the whole answer (the server closes after it).
    static func exchange(host: String, port: UInt16, raw: [UInt8], timeout: Double = 5, isHead: Bool = false,
                         source: String? = nil) throws -> HTTPReply {
        let connection = try TestConnection(host: host, port: port, timeout: timeout, source: source)
        defer { connection.close() }
        return try exchange(on: connection, raw: raw, isHead: isHead)
    }

    /// Sends `raw` on an open connection and reads the whole answer.
    static func exchange(on connection: TestConnection, raw: [UInt8], isHead: Bool = false) throws -> HTTPReply {
        try connection.sendRaw(raw)
        var data: [UInt8] = []
        while true {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { data += chunk[0..<n]; continue }
            if n == 0 { break }
            if errno == EINTR { continue }
            if errno == ECONNRESET && !data.isEmpty { break }
            throw HarnessError("HTTP from \(connection.endpoint): \(String(cString: strerror(errno))) after \(data.count) bytes")
        }
        return try parse(data, isHead: isHead)
    }

    static func get(host: String, port: UInt16, _ target: String, method: String = "GET",
                    headers: [String] = [], source: String? = nil) throws -> HTTPReply {
        return try exchange(host: host, port: port, raw: request(host: host, port: port, target, method: method, headers: headers),
                            isHead: method == "HEAD", source: source)
    }

    /// The bytes of a request head.
    static func request(host: String, port: UInt16, _ target: String, method: String = "GET", headers: [String] = []) -> [UInt8] {
        Array(("\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8)
    }

    /// Splits an answer; the body must match `Content-Length` (a HEAD answer has none).
    static func parse(_ data: [UInt8], isHead: Bool = false) throws -> HTTPReply {
        guard let end = data.indices.first(where: { data[$0...].starts(with: [13, 10, 13, 10]) }) else {
            throw HarnessError("no HTTP head in \(String(decoding: data.prefix(200), as: UTF8.self).debugDescription)")
        }
        let lines = String(decoding: data[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else {
            throw HarnessError("bad status line \(lines[0].debugDescription)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw HarnessError("bad header \(line.debugDescription)") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Array(data[(end + 4)...])
        if isHead {
            guard body.isEmpty else { throw HarnessError("an answer to HEAD with \(body.count) body bytes") }
        } else if let length = headers["content-length"].flatMap(Int.init), length != body.count {
            throw HarnessError("Content-Length \(length) but \(body.count) body bytes")
        }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    /// Basic credentials with `password` (user "doozer").
    static func basicAuthorization(_ password: String) -> String {
        "Authorization: Basic " + Data("doozer:\(password)".utf8).base64EncodedString()
    }
}

/// An open `/$events/...` stream: the head, then the JSON of each `data:` message.
final class EventStream {
    let connection: TestConnection
    private var buffer: [UInt8] = []
    private(set) var head = ""
    /// Every message's decoded JSON, in arrival order.
    private(set) var messages: [[String: Any]] = []

    init(host: String, port: UInt16, target: String, headers: [String] = [], source: String? = nil) throws {
        connection = try TestConnection(host: host, port: port, timeout: 0.2, source: source)
        let text = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\nAccept: text/event-stream\r\n"
            + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        try connection.sendRaw(Array(text.utf8))
        try read(until: { $0.head.isEmpty == false }, timeout: 5, what: "the stream's head")
    }

    func close() { connection.close() }

    /// Reads until `done(self)` holds; throws after `timeout` seconds.
    func read(until done: (EventStream) -> Bool, timeout: Double, what: String) throws {
        let deadline = now() + timeout
        while !done(self) {
            guard now() < deadline else {
                throw HarnessError("event stream: no \(what) within \(timeout)s; got \(messages.count) messages, last: \(String(describing: messages.last))")
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw HarnessError("event stream closed by the server while waiting for \(what)") }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                throw HarnessError("event stream: \(String(cString: strerror(errno)))")
            }
            buffer += chunk[0..<n]
            try split()
        }
    }

    private func split() throws {
        if head.isEmpty {
            guard let end = buffer.indices.first(where: { buffer[$0...].starts(with: [13, 10, 13, 10]) }) else { return }
            head = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end + 4)
        }
        while let end = buffer.indices.first(where: { buffer[$0...].starts(with: [10, 10]) }) {
            let block = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end + 2)
            for line in block.split(separator: "\n") where line.hasPrefix("data: ") {
                let json = Data(line.dropFirst(6).utf8)
                guard let object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                    throw HarnessError("event stream: not a JSON object: \(line)")
                }
                messages.append(object)
            }
        }
    }
}

extension DoozerdProcess {
    /// The web view address the server logged at start-up ("web view on http://host:port/").
    func webEndpoint() throws -> (host: String, port: UInt16) {
        let log = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        guard let range = log.range(of: "web view on http://") else {
            throw HarnessError("doozerd \(address) logged no web view address; stderr:\n\(stderrTail())")
        }
        let rest = log[range.upperBound...].prefix { $0 != "/" }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]) else {
            throw HarnessError("cannot parse web address \(rest)")
        }
        return (String(rest[..<colon]), port)
    }

    /// `/$cluster.json`, decoded.
    func clusterDocument(headers: [String] = []) throws -> [String: Any] {
        let (host, port) = try webEndpoint()
        let reply = try WebClient.get(host: host, port: port, "/$cluster.json", headers: headers)
        guard reply.status == 200, let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] else {
            throw HarnessError("/$cluster.json: \(reply)")
        }
        return object
    }

    /// The open event streams the server reports.
    func openEventStreams(headers: [String] = []) throws -> Int {
        let stats = try clusterDocument(headers: headers)["Stats"] as? [String: Any]
        return stats?["EventStreams"] as? Int ?? -1
    }

    /// Polls the stats until `count` event streams are open (bounded; never a bare sleep).
    func waitForEventStreams(_ count: Int, headers: [String] = [], timeout: Double = 10) throws {
        let deadline = now() + timeout
        var last = -1
        while now() < deadline {
            last = try openEventStreams(headers: headers)
            if last == count { return }
            pause(0.05)
        }
        throw HarnessError("expected \(count) open event streams, the server reports \(last)")
    }
}
