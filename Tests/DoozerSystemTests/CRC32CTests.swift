@testable import DoozerSystem
import XCTest

final class CRC32CTests: XCTestCase {
    func testCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        XCTAssertEqual(CRC32C().value, 0)
    }

    /// RFC 3720 (iSCSI) appendix B.4.
    func testISCSIVectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    /// Slicing by 8 agrees with the bytewise definition at every length and alignment, and
    /// feeding in pieces gives the checksum of the whole.
    func testSlicingMatchesBitwiseDefinitionAndPieces() {
        var state: UInt64 = 0x1234_5678
        let data: [UInt8] = (0..<300).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                let piece = Array(data[start..<end])
                XCTAssertEqual(CRC32C.checksum(piece), bitwise(piece), "bytes \(start)..<\(end)")
            }
        }
        for cut in 0...data.count {
            var c = CRC32C()
            c.update(Array(data[..<cut]))
            c.update(Array(data[cut...]))
            XCTAssertEqual(c.value, CRC32C.checksum(data))
        }
        // The tables agree with the CPU's instruction (when there is one: `checksum` uses it).
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 13) {
                var tables = CRC32C()
                data[start..<end].withUnsafeBytes { tables.updateWithTables($0) }
                XCTAssertEqual(tables.value, CRC32C.checksum(Array(data[start..<end])), "bytes \(start)..<\(end)")
            }
        }
    }

    private func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }
}
