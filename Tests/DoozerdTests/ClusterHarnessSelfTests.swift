// The cluster harness checked on what works today: one seed on 127.0.76.1:8046. Proves the
// helpers the cluster scenarios rely on (start/readiness, the CLI slot creation, WAIT-based
// events, the web view check, SIGSTOP/SIGCONT with bounded writes, SIGKILL, stopAll).

import DoozerClient
import DoozerWire
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class ClusterHarnessSelfTests: ClusterTestCase {
    func testHarnessOnASingleSeed() throws {
        let harness = useCluster("127.0.76")
        let seed = try harness.start("S1", host: harness.host(1), arguments: ["-pulse", "0.2"], readiness: .writable)
        XCTAssertEqual(seed.id.count, 16, "SELF filled in")
        XCTAssertEqual(seed.address, "127.0.76.1:8046")

        // The CLI as users run it, then the event that proves it.
        let before = try seed.connect().rev()
        let result = try harness.doozer(["set", "/ctl/cal/1", "0"], stdin: "", environment: ["DOOZER_URI": seed.uri])
        XCTAssertEqual(result.status, 0, result.summary)
        let event = try harness.awaitEvent(on: seed, "/ctl/cal/*", from: before + 1, timeout: 5, "the new slot")
        XCTAssertEqual(event.path, "/ctl/cal/1")
        XCTAssertTrue(event.isSet && event.body.isEmpty, harness.describe(event))
        XCTAssertEqual(try harness.calendar(on: seed), ["0": seed.id, "1": ""])

        // A WAIT that never matches ends at its deadline with a clear error.
        let start = now()
        XCTAssertThrowsError(try harness.awaitEvent(on: seed, "/never", from: before + 1, timeout: 0.3, "nothing")) { error in
            XCTAssertTrue("\(error)".contains("no such event") && "\(error)".contains("S1"), "\(error)")
        }
        XCTAssertLessThan(now() - start, 2, "bounded")

        try harness.checkWebView(of: seed, clusterName: "local", members: [seed], slaves: [])

        // SIGSTOP: a write through it is bounded; SIGCONT: it works again.
        harness.suspend(seed)
        let stopped = now()
        XCTAssertThrowsError(try seed.connect(timeout: 0.5).mustSet("/harness/x", "1"), "a stopped node cannot answer")
        XCTAssertLessThan(now() - stopped, 2, "bounded while stopped")
        XCTAssertNil(harness.waitForExit(seed, timeout: 0.1), "still there")
        harness.resume(seed)
        let rev = try seed.connect().mustSet("/harness/x", "2")
        XCTAssertEqual(try harness.read("/harness/x", on: seed, rev: rev).body, "2")

        // A second node on the block; SIGKILL it; stopAll takes care of the rest.
        let other = try harness.start("S2", host: harness.host(2), arguments: ["-w", "false"], readiness: .answering)
        let exit = harness.kill(other)
        XCTAssertEqual(exit.reason, .uncaughtSignal, "\(exit)")
        XCTAssertEqual(exit.status, SIGKILL, "\(exit)")
        XCTAssertTrue(harness.report().contains("[S2 127.0.76.2:8046 id \(other.id), exited"), harness.report())
        harness.suspend(seed)
        harness.stopAll()
        XCTAssertFalse(seed.isRunning, "stopAll ends even a stopped node")
    }
}
