import DoozerWire
import DoozerTestSupport

/// "0a ff" / "0aff" -> bytes.
func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8.filter { $0 != UInt8(ascii: " ") })
    precondition(digits.count % 2 == 0, "odd hex: \(hex)")
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("bad hex: \(hex)")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let table = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(table[Int(b >> 4)])
        out.append(table[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

let interestingInt32: [Int32] = [0, 1, -1, 2, 127, 128, 16383, 16384, 2_097_151, 2_097_152,
                                 268_435_455, 268_435_456, .max, .min, -2, -129]
let interestingInt64: [Int64] = [0, -1, -2, -3, 1, 71, 791, 1 << 31, (1 << 32) + 5, 1 << 56, .max, .min, -(1 << 40)]
let interestingPaths = ["", "/", "/ctl/name", "/a", "/**", "/café/日本", String(repeating: "/x", count: 80)]

extension SplitMix64 {
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func int32() -> Int32 {
        chance(0.6) ? interestingInt32.randomElement(using: &self)! : Int32.random(in: .min ... .max, using: &self)
    }
    mutating func int64() -> Int64 {
        chance(0.6) ? interestingInt64.randomElement(using: &self)! : Int64.random(in: .min ... .max, using: &self)
    }
    mutating func path() -> String { interestingPaths.randomElement(using: &self)! }
    mutating func bytes() -> [UInt8] {
        let count = [0, 0, 1, 2, 5, 127, 128, 300].randomElement(using: &self)!
        return (0..<count).map { _ in UInt8.random(in: 0 ... 255, using: &self) }
    }

    mutating func request() -> Request {
        var r = Request()
        if chance(0.7) { r.tag = int32() }
        if chance(0.7) { r.verb = chance(0.9) ? Verb.allCases.randomElement(using: &self)!.rawValue : int32() }
        if chance(0.6) { r.path = path() }
        if chance(0.5) { r.value = bytes() }
        if chance(0.3) { r.otherTag = int32() }
        if chance(0.4) { r.offset = int32() }
        if chance(0.6) { r.rev = int64() }
        return r
    }

    /// A response whose `errCode`, if any, is a known `ErrorCode` (so `ResponseFields` can carry it).
    mutating func response() -> Response {
        var r = Response()
        if chance(0.7) { r.tag = int32() }
        if chance(0.4) { r.flags = [0, 4, 8, 3, -1, int32()].randomElement(using: &self)! }
        if chance(0.6) { r.rev = int64() }
        if chance(0.5) { r.path = path() }
        if chance(0.5) { r.value = bytes() }
        if chance(0.3) { r.len = int32() }
        if chance(0.4) { r.errCode = ErrorCode.allCases.randomElement(using: &self)!.rawValue }
        if chance(0.3) { r.errDetail = ["permission denied", "", "invalid glob pattern: /[", "é"].randomElement(using: &self)! }
        return r
    }
}

/// The fields of a message in crosscheck.py's listing format.
func listing(_ r: Request) -> String {
    var parts: [String] = []
    if let v = r.tag { parts.append("tag=\(v)") }
    if let v = r.verb { parts.append("verb=\(v)") }
    if let v = r.path { parts.append("path=\(hex(v.utf8))") }
    if let v = r.value { parts.append("value=\(hex(v))") }
    if let v = r.otherTag { parts.append("other_tag=\(v)") }
    if let v = r.offset { parts.append("offset=\(v)") }
    if let v = r.rev { parts.append("rev=\(v)") }
    return parts.joined(separator: " ")
}

func listing(_ r: RequestView) -> String {
    var parts: [String] = []
    if let v = r.tag { parts.append("tag=\(v)") }
    if let v = r.verb { parts.append("verb=\(v)") }
    if let v = r.path { parts.append("path=\(hex(v))") }
    if let v = r.value { parts.append("value=\(hex(v))") }
    if let v = r.otherTag { parts.append("other_tag=\(v)") }
    if let v = r.offset { parts.append("offset=\(v)") }
    if let v = r.rev { parts.append("rev=\(v)") }
    return parts.joined(separator: " ")
}

func listing(_ r: Response) -> String {
    var parts: [String] = []
    if let v = r.tag { parts.append("tag=\(v)") }
    if let v = r.flags { parts.append("flags=\(v)") }
    if let v = r.rev { parts.append("rev=\(v)") }
    if let v = r.path { parts.append("path=\(hex(v.utf8))") }
    if let v = r.value { parts.append("value=\(hex(v))") }
    if let v = r.len { parts.append("len=\(v)") }
    if let v = r.errCode { parts.append("err_code=\(v)") }
    if let v = r.errDetail { parts.append("err_detail=\(hex(v.utf8))") }
    return parts.joined(separator: " ")
}

/// Encodes `response` through `ResponseFields` (the server's path): the fields borrow the
/// response's storage. `response.errCode` must be nil or a known `ErrorCode`.
func encodeWithResponseFields(_ response: Response) -> [UInt8] {
    let path = response.path.map { Array($0.utf8) }
    let detail = response.errDetail.map { Array($0.utf8) }
    func with(_ array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> [UInt8]) -> [UInt8] {
        guard let array else { return body(nil) }
        return array.withUnsafeBytes { body($0) }
    }
    return with(path) { path in
        with(response.value) { value in
            with(detail) { detail in
                var fields = ResponseFields()
                fields.tag = response.tag
                fields.flags = response.flags
                fields.rev = response.rev
                fields.path = path
                fields.value = value
                fields.len = response.len
                fields.errCode = response.errCode.map { ErrorCode(rawValue: $0)! }
                fields.errDetail = detail
                let count = fields.encodedCount
                // Guard bytes after the payload catch writes past encodedCount.
                var out = [UInt8](repeating: 0xEE, count: count + 16)
                out.withUnsafeMutableBytes { fields.encode(to: $0.baseAddress!) }
                precondition(out[count...].allSatisfy { $0 == 0xEE }, "ResponseFields wrote past encodedCount")
                return Array(out[..<count])
            }
        }
    }
}
