// The few protocol bytes the load generator needs, encoded straight into a connection's
// output buffer and decoded in place from its input buffer: nothing allocates per request.
import DoozerReactor
import DoozerWire

enum V {
    static let get: UInt64 = 1, set: UInt64 = 2, rev: UInt64 = 5, wait: UInt64 = 6
}

@inline(__always)
func putVarint(_ p: UnsafeMutableRawPointer, _ i: inout Int, _ value: UInt64) {
    var v = value
    while v >= 0x80 {
        p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
        i &+= 1
        v >>= 7
    }
    p.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
    i &+= 1
}

@inline(__always)
func putBytes(_ p: UnsafeMutableRawPointer, _ i: inout Int, key: UInt8, _ bytes: UnsafeRawBufferPointer) {
    p.storeBytes(of: key, toByteOffset: i, as: UInt8.self)
    i &+= 1
    putVarint(p, &i, UInt64(bytes.count))
    if bytes.count > 0 { (p + i).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    i &+= bytes.count
}

/// Appends one framed Request (tag 1, verb 2, path 4, value 5, rev 9).
func appendRequest(_ out: inout IOBuffer, tag: Int32, verb: UInt64, path: UnsafeRawBufferPointer?,
                   value: UnsafeRawBufferPointer?, rev: Int64?) {
    let bound = 4 + 11 + 11 + 11 + (path?.count ?? 0) + 11 + (value?.count ?? 0) + 11
    let space = out.writableSpace(minimum: bound)
    let p = space.baseAddress!
    var i = 4
    p.storeBytes(of: 0x08, toByteOffset: i, as: UInt8.self); i &+= 1
    putVarint(p, &i, UInt64(UInt32(bitPattern: tag)))
    p.storeBytes(of: 0x10, toByteOffset: i, as: UInt8.self); i &+= 1
    putVarint(p, &i, verb)
    if let path { putBytes(p, &i, key: 0x22, path) }
    if let value { putBytes(p, &i, key: 0x2a, value) }
    if let rev {
        p.storeBytes(of: 0x48, toByteOffset: i, as: UInt8.self); i &+= 1
        putVarint(p, &i, UInt64(bitPattern: rev))
    }
    Framing.writeHeader(i - 4, to: p)
    out.commit(i)
}

/// A response decoded in place; the byte fields point into the input buffer.
struct Resp {
    var tag: Int32 = -1
    var flags: Int32 = 0
    var rev: Int64 = 0
    var errCode: Int32 = 0
    var path: UnsafeRawBufferPointer? = nil
    var value: UnsafeRawBufferPointer? = nil
    var errDetail: UnsafeRawBufferPointer? = nil

    init?(_ b: UnsafeRawBufferPointer) {
        var i = 0
        let n = b.count
        func varint() -> UInt64? {
            var result: UInt64 = 0, shift: UInt64 = 0
            while i < n {
                let byte = b[i]; i += 1
                if shift < 64 { result |= UInt64(byte & 0x7f) << shift }
                if byte < 0x80 { return result }
                shift += 7
                if shift > 63 + 7 { return nil }
            }
            return nil
        }
        while i < n {
            guard let key = varint() else { return nil }
            let field = key >> 3
            switch key & 7 {
            case 0:
                guard let v = varint() else { return nil }
                switch field {
                case 1: tag = Int32(truncatingIfNeeded: v)
                case 2: flags = Int32(truncatingIfNeeded: v)
                case 3: rev = Int64(bitPattern: v)
                case 100: errCode = Int32(truncatingIfNeeded: v)
                default: break
                }
            case 2:
                guard let len = varint(), len <= UInt64(n - i) else { return nil }
                let bytes = UnsafeRawBufferPointer(rebasing: b[i ..< i + Int(len)])
                i += Int(len)
                switch field {
                case 5: path = bytes
                case 6: value = bytes
                case 101: errDetail = bytes
                default: break
                }
            case 1: i += 8; if i > n { return nil }
            case 5: i += 4; if i > n { return nil }
            default: return nil
            }
        }
    }
}

/// Names of the error codes (spec §2.3) for the report.
func errorName(_ code: Int32) -> String {
    switch code {
    case 1: "TAG_IN_USE"; case 2: "UNKNOWN_VERB"; case 3: "READONLY"; case 4: "TOO_LATE"
    case 5: "REV_MISMATCH"; case 6: "BAD_PATH"; case 7: "MISSING_ARG"; case 8: "RANGE"
    case 20: "NOTDIR"; case 21: "ISDIR"; case 22: "NOENT"; case 127: "OTHER"
    default: "ERR_\(code)"
    }
}
