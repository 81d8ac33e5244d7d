// Real doozerd processes under real faults (issue 17 part 9): a durable cluster of three members
// and a slave in a network namespace of its own, clients recording every operation, faults in
// rounds (partitions, one-way and random loss with nftables, SIGSTOP, kill -9 of one node and of
// all), then convergence and the history checks. `DOOZER_FAULT_ROUNDS=n` for a long run;
// RELIABILITY.md describes it.

import Foundation
import XCTest

final class FaultRoundsTests: XCTestCase {
    /// This test as the bundle's filter names it (for the re-execution in the namespace).
    static let filter = "DoozerFaultTests.FaultRoundsTests/testFaultRounds"

    func testFaultRounds() throws {
        let tools = try Prerequisites.check()
        let settings = FaultRun.Settings.fromEnvironment()
        guard Namespace.isInside else {
            // Bounds the child: formation, each round's fault, heal and writes, the checks.
            let timeout = 120 + Double(settings.rounds) * (3 + 30 + FaultRun.writableWithin)
            return try Namespace.runInside(Self.filter, unshare: tools.unshare, timeout: timeout)
        }
        let report = try FaultRun(settings: settings, nft: tools.nft).execute()
        say(report.summary)
        for problem in report.problems.prefix(40) { XCTFail(problem) }
        if report.problems.count > 40 { XCTFail("… and \(report.problems.count - 40) more; all numbers: \(report.summary)") }
    }
}
