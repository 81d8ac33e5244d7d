import DoozerLog
import DoozerSystem
import DoozerTestSupport
import XCTest

/// The loop thread, the syncing thread and the preparer contending for the state they share,
/// as hard as a test can make them: commits and reaps in a tight loop while batches are
/// written and small segments are prepared and claimed. Meant for ThreadSanitizer
/// (scripts/sanitize), where a handoff it cannot see ordered is reported as a race; in any
/// build it checks that every record committed this way is durable, in order.
final class HandoffStressTests: XCTestCase {
    func testCommitsAndReapsRacingTheSyncingThreadAndThePreparer() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        var written: [LogRecord] = []
        let (log, _) = try RecordLog.open(directory.path, options: small(prepared: true))
        for _ in 0..<3000 {
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let payload = random.bytes(Int.random(in: 0...40, using: &random))
                written.append(LogRecord(index: try log.append(type: 1, payload: payload), type: 1, payload: payload))
            }
            log.commit()
            try log.reapCompletions()
            _ = log.statistics
        }
        // The preparer runs on its own thread, when the scheduler lets it: on a loaded machine
        // the loop above can finish first. Keep the log busy until it has taken part (bounded),
        // rather than assume it kept pace. Each record here waits until it is durable, so the
        // loop never outruns the syncing thread into the log's bound on unsynced bytes.
        let deadline = ContinuousClock.now + .seconds(30)
        while log.statistics.preparedSegments == 0 && ContinuousClock.now < deadline {
            let payload = random.bytes(40)
            written.append(LogRecord(index: try log.append(type: 1, payload: payload), type: 1, payload: payload))
            try log.flush()
        }
        try log.flush()
        XCTAssertEqual(log.durableIndex, UInt64(written.count), "seed \(seed)")
        XCTAssertGreaterThan(log.statistics.preparedSegments, 0, "the preparer took part (seed \(seed))")
        log.close()
        let (reopened, recovered) = try RecordLog.open(directory.path, options: small(prepared: true))
        reopened.close()
        XCTAssertEqual(recovered, written, "seed \(seed)")
    }
}
