import CShims

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor
/// 0xFFFFFFFF) — the checksum of iSCSI, ext4, snapshot streams, the log's records and the peer
/// datagrams. With the CPU's instruction where it has one (SSE4.2, AArch64 CRC32: ten times
/// the table's speed, which matters for megabyte messages), else table-driven, slicing by 8
/// bytes. A value type that is fed bytes in any number of pieces: the result depends only on
/// their concatenation. Pure computation; it owns nothing but the running remainder.
public struct CRC32C: Sendable, Equatable {
    private var remainder: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The checksum of everything fed so far (0 for nothing).
    public var value: UInt32 { ~remainder }

    /// Whether the CPU's instruction computes it.
    static let inHardware = cshims_crc32c_hardware() == 1

    /// Feeds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !Self.inHardware || bytes.isEmpty else {
            remainder = cshims_crc32c_update(remainder, bytes.baseAddress, bytes.count)
            return
        }
        updateWithTables(bytes)
    }

    /// Feeds `bytes` through the tables (what a CPU without the instruction uses).
    mutating func updateWithTables(_ bytes: UnsafeRawBufferPointer) {
        var crc = remainder
        var i = 0
        let n = bytes.count
        Self.tables.withUnsafeBufferPointer { t in
            while i &+ 8 <= n {
                let lo = bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ crc
                let hi = bytes.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self).littleEndian
                crc = t[7 &* 256 &+ Int(lo & 0xFF)] ^ t[6 &* 256 &+ Int((lo >> 8) & 0xFF)]
                    ^ t[5 &* 256 &+ Int((lo >> 16) & 0xFF)] ^ t[4 &* 256 &+ Int(lo >> 24)]
                    ^ t[3 &* 256 &+ Int(hi & 0xFF)] ^ t[2 &* 256 &+ Int((hi >> 8) & 0xFF)]
                    ^ t[1 &* 256 &+ Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i &+= 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8)
                i &+= 1
            }
        }
        remainder = crc
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32C()
        c.update(bytes)
        return c.value
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Eight 256-entry tables, flat: table k maps a byte to its remainder shifted through k
    /// further zero bytes, so eight input bytes fold in with eight lookups.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var r = UInt32(b)
            for _ in 0..<8 { r = r & 1 == 1 ? (r >> 1) ^ 0x82F6_3B78 : r >> 1 }
            t[b] = r
        }
        for k in 1..<8 {
            for b in 0..<256 {
                let prev = t[(k - 1) * 256 + b]
                t[k * 256 + b] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()
}
