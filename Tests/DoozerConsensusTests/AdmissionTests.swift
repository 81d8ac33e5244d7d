@testable import DoozerConsensus
import XCTest

/// De-duplication: a proposal is admitted once; a retired origin's watermark goes, and its
/// proposals are refused for α instances after the retirement, then forgotten.
final class AdmissionTests: XCTestCase {
    private let x = PeerID(raw: 5), y = PeerID(raw: 6)
    private func p(_ origin: PeerID, _ seq: UInt64) -> Proposal { Proposal(origin: origin, seq: seq, tag: seq, payload: [1]) }

    func testAProposalIsAdmittedOnceAndOnlyAboveItsOriginsWatermark() {
        var table = Admission()
        XCTAssertEqual(table.admit([p(x, 1), p(x, 1), p(y, 4)], at: 1, alpha: 3), [1], "the copy in the same batch")
        XCTAssertEqual(table.admit([p(x, 1), p(y, 3), p(x, 2)], at: 2, alpha: 3), [0, 1])
        XCTAssertEqual(table.seqs, [x: 2, y: 4])
    }

    func testARetiredOriginIsRefusedForAlphaInstancesThenForgotten() {
        var table = Admission()
        _ = table.admit([p(x, 7)], at: 1, alpha: 3)
        XCTAssertEqual(table.admit([.retirement(of: x)], at: 2, alpha: 3), [])
        XCTAssertNil(table.seqs[x], "the watermark goes")
        XCTAssertEqual(table.retired, [x: 2])
        for instance: Int64 in 3...5 {
            XCTAssertEqual(table.admit([p(x, 8)], at: instance, alpha: 3), [0], "a stale copy at \(instance) ≤ 2 + α")
        }
        XCTAssertEqual(table.admit([], at: 6, alpha: 3), [])
        XCTAssertEqual(table.retired, [:], "forgotten after α instances")
    }

    func testARetirementOfAnOriginWithoutAWatermarkIsRefused() {
        var table = Admission()
        XCTAssertEqual(table.admit([.retirement(of: y)], at: 1, alpha: 3), [0], "nothing to retire: a second marker is a no-op")
        XCTAssertEqual(table.admit([p(Proposal.retirementOrigin, 1)], at: 2, alpha: 3), [0], "not a well-formed marker")
    }
}
