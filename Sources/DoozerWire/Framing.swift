// Length-prefixed framing (spec §2.1): a 4-byte big-endian payload length, then the payload.

/// Frame boundaries on a byte stream. Never allocates, except `frame(_:)`, which builds a new array.
public enum Framing {
    /// Bytes of the length prefix.
    public static let headerSize = 4
    /// Suggested largest payload accepted from a peer (spec §11, B1).
    public static let defaultMaxFrame = 16 << 20

    /// What the start of a byte stream holds.
    public enum Scan: Equatable, Sendable {
        /// Not yet a whole frame: fewer than 4 header bytes, or the payload is still arriving.
        case incomplete
        /// A whole frame: its payload is `bytes[headerSize ..< headerSize + payloadCount]`.
        case frame(payloadCount: Int)
        /// The header announces more than `maxFrame` payload bytes; the stream must be dropped.
        case tooLarge(length: UInt32)
    }

    /// Looks at the start of `bytes`: needs 4 header bytes and the whole payload for `.frame`.
    /// A header above `maxFrame` is reported as soon as the 4 header bytes are present.
    @inlinable
    public static func scan(_ bytes: UnsafeRawBufferPointer, maxFrame: Int) -> Scan {
        guard bytes.count >= headerSize else { return .incomplete }
        let length = UInt32(bytes[0]) &<< 24 | UInt32(bytes[1]) &<< 16 | UInt32(bytes[2]) &<< 8 | UInt32(bytes[3])
        guard maxFrame >= 0, UInt64(length) <= UInt64(maxFrame) else { return .tooLarge(length: length) }
        let payloadCount = Int(length)
        return bytes.count &- headerSize >= payloadCount ? .frame(payloadCount: payloadCount) : .incomplete
    }

    /// Writes the 4-byte big-endian header for a payload of `payloadCount` bytes.
    @inlinable
    public static func writeHeader(_ payloadCount: Int, to destination: UnsafeMutableRawPointer) {
        precondition(payloadCount >= 0 && UInt64(payloadCount) <= UInt64(UInt32.max), "frame payload too large")
        destination.storeBytes(of: UInt32(truncatingIfNeeded: payloadCount).bigEndian, as: UInt32.self)
    }

    /// Header followed by `payload`, as a new array.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        let total = headerSize + payload.count
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            writeHeader(payload.count, to: base)
            payload.withUnsafeBytes { source in
                if let from = source.baseAddress, source.count > 0 {
                    (base + headerSize).copyMemory(from: from, byteCount: source.count)
                }
            }
            initialized = total
        }
    }
}
