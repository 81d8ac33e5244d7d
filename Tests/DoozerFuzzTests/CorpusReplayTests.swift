import DoozerFuzz
import Foundation
import XCTest

/// Replays every fuzz target's seeds, its corpus (Fuzz/Corpus/TARGET) and the crashes it
/// found (Fuzz/Crashes/TARGET) through the entry point libFuzzer drives, so each stays fixed.
final class CorpusReplayTests: XCTestCase {
    func testRequest() throws { try replay(.request) }
    func testResponse() throws { try replay(.response) }
    func testMutation() throws { try replay(.mutation) }
    func testGlob() throws { try replay(.glob) }
    func testHTTP() throws { try replay(.http) }
    func testSnapshot() throws { try replay(.snapshot) }
    func testPeer() throws { try replay(.peer) }
    func testDatagram() throws { try replay(.datagram) }
    func testTLS() throws { try replay(.tls) }

    /// Every target has a committed seed corpus, and the tests list every target.
    func testEveryTargetHasACorpusAndATest() throws {
        XCTAssertEqual(FuzzTarget.allCases.count, 9, "a new target needs its test above")
        for target in FuzzTarget.allCases {
            XCTAssertFalse(try inputs(target, in: "Corpus").isEmpty, "Fuzz/Corpus/\(target.rawValue) is empty")
        }
    }

    private static let fuzzFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    private func inputs(_ target: FuzzTarget, in kind: String) throws -> [(name: String, bytes: [UInt8])] {
        let folder = Self.fuzzFolder.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { name in
            (name: "\(kind)/\(target.rawValue)/\(name)",
             bytes: [UInt8](try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }

    private func replay(_ target: FuzzTarget) throws {
        let seeds = target.seeds.enumerated().map { (name: "seed \($0.offset)", bytes: $0.element) }
        let all = try seeds + inputs(target, in: "Corpus") + inputs(target, in: "Crashes")
        for input in all {
            XCTAssertNoThrow(try target.run(input.bytes), "\(target.rawValue), \(input.name)")
        }
    }
}
