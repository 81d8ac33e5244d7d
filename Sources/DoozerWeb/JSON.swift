import DoozerStore

/// Appends JSON text to a byte array. Strings are escaped for JSON and additionally for
/// embedding anywhere in HTML (`<`, `>`, `&`, U+2028, U+2029 become `\u` escapes); bytes
/// that are not UTF-8 become U+FFFD. Owns only its output.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// An object key; the value follows.
    public mutating func key(_ name: String) {
        separate()
        Self.appendString(name.utf8, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: some Collection<UInt8>) { separate(); Self.appendString(value, to: &bytes); needsComma = true }
    public mutating func string(_ value: String) { string(value.utf8) }
    public mutating func number(_ value: Int64) { separate(); bytes.append(contentsOf: String(value).utf8); needsComma = true }
    public mutating func number(_ value: Int) { number(Int64(value)) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8); needsComma = true }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// A quoted, escaped JSON string of `value` (decoded as UTF-8, invalid sequences → U+FFFD).
    public static func appendString(_ value: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for scalar in String(decoding: value, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: "\\\"".utf8)
            case "\\": out.append(contentsOf: "\\\\".utf8)
            case "\n": out.append(contentsOf: "\\n".utf8)
            case "\r": out.append(contentsOf: "\\r".utf8)
            case "\t": out.append(contentsOf: "\\t".utf8)
            case _ where scalar.value < 0x20 || "<>&\u{2028}\u{2029}\u{7F}".unicodeScalars.contains(scalar):
                let v = scalar.value
                out.append(contentsOf: "\\u".utf8)
                out.append(hex[Int(v >> 12 & 0xF)])
                out.append(hex[Int(v >> 8 & 0xF)])
                out.append(hex[Int(v >> 4 & 0xF)])
                out.append(hex[Int(v & 0xF)])
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// The event stream's messages (§7.2): one JSON object per event with the keys `Seqn`, `Path`
/// (relative to the watched directory: its first `directory.count - 1` bytes are removed),
/// `Body`, `Rev`, `Mut` and `Err` (null or the failure's text), framed as server-sent events.
/// Pure: builds bytes, owns nothing.
public enum EventStreamEncoding {
    /// One live event as an SSE message.
    public static func message(_ event: Event, directory: [UInt8]) -> [UInt8] {
        message(seqn: event.seqn, path: event.path, body: event.body, rev: event.rev, mutation: event.mutation,
                error: event.error?.text, directory: directory)
    }

    /// One file of the initial listing (`Seqn` 0, empty `Mut`) as an SSE message.
    public static func listing(path: [UInt8], body: [UInt8], rev: Int64, directory: [UInt8]) -> [UInt8] {
        message(seqn: 0, path: path, body: body, rev: rev, mutation: [], error: nil, directory: directory)
    }

    /// The single listing message for a directory that does not exist (or is a file): empty
    /// path and body, `Rev` 0 (§7.2).
    public static func missingDirectory() -> [UInt8] {
        message(seqn: 0, path: [], body: [], rev: 0, mutation: [], error: nil, directory: [])
    }

    /// A comment line that keeps idle streams (and proxies) alive and finds dead clients.
    public static let heartbeat: [UInt8] = Array(": ping\n\n".utf8)

    public static func json(seqn: Int64, path: [UInt8], body: [UInt8], rev: Int64, mutation: [UInt8], error: String?,
                            directory: [UInt8]) -> [UInt8] {
        let trim = min(max(directory.count - 1, 0), path.count)
        var writer = JSONWriter(capacity: 64 + path.count + body.count + mutation.count)
        writer.beginObject()
        writer.key("Seqn"); writer.number(seqn)
        writer.key("Path"); writer.string(path[trim...])
        writer.key("Body"); writer.string(body)
        writer.key("Rev"); writer.number(rev)
        writer.key("Mut"); writer.string(mutation)
        writer.key("Err")
        if let error { writer.string(error) } else { writer.null() }
        writer.endObject()
        return writer.bytes
    }

    static func message(seqn: Int64, path: [UInt8], body: [UInt8], rev: Int64, mutation: [UInt8], error: String?,
                        directory: [UInt8]) -> [UInt8] {
        // JSON text holds no raw line breaks, so one `data:` line carries it.
        Array("data: ".utf8) + json(seqn: seqn, path: path, body: body, rev: rev, mutation: mutation, error: error,
                                    directory: directory) + [0x0A, 0x0A]
    }
}
