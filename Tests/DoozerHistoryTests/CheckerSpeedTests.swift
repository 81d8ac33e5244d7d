import DoozerHistory
import Foundation
import XCTest

/// How long checking a large generated history takes: printed, never asserted.
/// `DOOZER_HISTORY_OPS=n` sets the size (default 10,000; the figure in the module's doc comment
/// is for 100,000 in a release build).
final class CheckerSpeedTests: XCTestCase {
    func testALargeHistory() {
        var g = HistoryGenerator()
        g.operations = ProcessInfo.processInfo.environment["DOOZER_HISTORY_OPS"].flatMap(Int.init) ?? 10_000
        g.paths = ProcessInfo.processInfo.environment["DOOZER_HISTORY_PATHS"].flatMap(Int.init) ?? 50
        g.clients = 8
        g.lostPerMille = 10
        let run = g.generate(seed: 1)
        let clock = ContinuousClock()
        var report: HistoryReport?
        let all = clock.measure { report = DoozerChecks.check(run.history, final: run.views) }
        var linearizability: (violations: [Finding], undecided: [Finding]) = ([], [])
        let search = clock.measure { linearizability = DoozerChecks.linearizability(run.history) }
        assertValid(report!)
        XCTAssertTrue(linearizability.violations.isEmpty && linearizability.undecided.isEmpty)
        print("checked \(run.history.count) operations over \(g.paths) paths from \(g.clients) clients: all checks \(all), linearizability \(search)")
    }
}
