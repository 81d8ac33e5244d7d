import DoozerSystem

/// A node's identity for one process lifetime: 80 random bits as 16 base32 characters
/// (RFC 4648 alphabet, no padding). Never persisted.
public struct NodeID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A fresh id from the system's cryptographic random source.
    public static func random() throws(SystemError) -> NodeID {
        NodeID(bytes: base32(try ProcessEnvironment.randomBytes(10)))
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// RFC 4648 base32 of a multiple of 5 bytes.
    static func base32(_ input: [UInt8]) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 8 / 5)
        var buffer: UInt64 = 0
        var bits = 0
        for byte in input {
            buffer = buffer << 8 | UInt64(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int((buffer >> UInt64(bits)) & 31)])
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt64(5 - bits)) & 31)]) }
        return output
    }
}
