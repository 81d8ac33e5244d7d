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
    public mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8); needsComma = true }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8); needsComma = true }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// A quoted, escaped JSON string of `value` (decoded as UTF-8, invalid sequences → U+FFFD).
    /// Runs of plain ASCII are copied as they are; only the rest is decoded scalar by scalar.
    public static func appendString(_ value: some Collection<UInt8>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + value.count + 2)
        out.append(UInt8(ascii: "\""))
        var index = value.startIndex
        while index < value.endIndex {
            let byte = value[index]
            if byte >= 0x80 {
                // A run of non-ASCII bytes: an ASCII byte never continues a UTF-8 sequence, so
                // decoding the run alone replaces exactly what decoding everything would.
                var end = value.index(after: index)
                while end < value.endIndex, value[end] >= 0x80 { end = value.index(after: end) }
                for scalar in String(decoding: value[index..<end], as: UTF8.self).unicodeScalars {
                    if scalar == "\u{2028}" || scalar == "\u{2029}" {
                        appendEscape(scalar.value, to: &out)
                    } else {
                        out.append(contentsOf: String(scalar).utf8)
                    }
                }
                index = end
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
            case 0..<0x20, 0x7F, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"): appendEscape(UInt32(byte), to: &out)
            default: out.append(byte)
            }
            index = value.index(after: index)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `\uXXXX` for a scalar in the basic plane.
    private static func appendEscape(_ value: UInt32, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(contentsOf: "\\u".utf8)
        out.append(hex[Int(value >> 12 & 0xF)])
        out.append(hex[Int(value >> 8 & 0xF)])
        out.append(hex[Int(value >> 4 & 0xF)])
        out.append(hex[Int(value & 0xF)])
    }
}

/// One event-stream message (§7.2), encoded once for every stream that carries it. Each stream
/// sees the event's path relative to its own directory, so only the short part up to the path
/// is built per stream (`head(directory:)`); the rest — body, rev, mutation, error and the SSE
/// terminator, which may be megabytes — is `tail`, the same bytes for all of them. A value:
/// it owns its bytes and knows nothing about streams.
public struct EventMessage: Sendable {
    public let seqn: Int64
    /// The event's full path; `head(directory:)` trims it.
    public let path: [UInt8]
    /// `,"Body":…,"Rev":…,"Mut":…,"Err":…}` and the blank line that ends the message.
    public let tail: [UInt8]

    public init(seqn: Int64, path: [UInt8], body: some Collection<UInt8>, rev: Int64, mutation: some Collection<UInt8>,
                error: String?) {
        self.seqn = seqn
        self.path = path
        var writer = JSONWriter(capacity: 64 + body.count + mutation.count)
        writer.key("Body"); writer.string(body)
        writer.key("Rev"); writer.number(rev)
        writer.key("Mut"); writer.string(mutation)
        writer.key("Err")
        if let error { writer.string(error) } else { writer.null() }
        // JSON text holds no raw line breaks, so one `data:` line carries the whole object.
        tail = [UInt8(ascii: ",")] + writer.bytes + Array("}\n\n".utf8)
    }

    /// One live event.
    public init(_ event: Event) {
        self.init(seqn: event.seqn, path: event.path, body: event.body, rev: event.rev, mutation: event.mutation,
                  error: event.error?.text)
    }

    /// The fewest bytes the message of an event can take: its body and mutation, unescaped.
    /// Lets a stream without that much room refuse the event before anything is encoded.
    public static func lowerBound(of event: Event) -> Int { event.body.count + event.mutation.count }

    /// `data: {"Seqn":…,"Path":"…"` with the path relative to `directory` (its first
    /// `directory.count - 1` bytes removed).
    public func head(directory: [UInt8]) -> [UInt8] {
        let trim = min(max(directory.count - 1, 0), path.count)
        var writer = JSONWriter(capacity: 32 + path.count - trim)
        writer.key("Seqn"); writer.number(seqn)
        writer.key("Path"); writer.string(path[trim...])
        return Array("data: {".utf8) + writer.bytes
    }

    /// The whole message as one stream sees it.
    public func encoded(directory: [UInt8]) -> [UInt8] { head(directory: directory) + tail }
}

/// The event stream's fixed messages and the listing (§7.2): JSON objects with the keys `Seqn`,
/// `Path` (relative to the watched directory), `Body`, `Rev`, `Mut` and `Err` (null or the
/// failure's text), framed as server-sent events. Pure: builds bytes, owns nothing.
public enum EventStreamEncoding {
    /// One file of the initial listing (`Seqn` 0, empty `Mut`) as an SSE message.
    public static func listing(path: [UInt8], body: some Collection<UInt8>, rev: Int64, directory: [UInt8]) -> [UInt8] {
        EventMessage(seqn: 0, path: path, body: body, rev: rev, mutation: [], error: nil).encoded(directory: directory)
    }

    /// The single listing message for a directory that does not exist (or is a file): empty
    /// path and body, `Rev` 0 (§7.2).
    public static func missingDirectory() -> [UInt8] {
        EventMessage(seqn: 0, path: [], body: [], rev: 0, mutation: [], error: nil).encoded(directory: [])
    }

    /// A comment line that keeps idle streams (and proxies) alive and finds dead clients.
    public static let heartbeat: [UInt8] = Array(": ping\n\n".utf8)
}
