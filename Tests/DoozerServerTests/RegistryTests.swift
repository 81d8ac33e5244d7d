@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import XCTest

final class RegistryTests: XCTestCase {
    private func isSignals(_ handler: Registry.Handler?) -> Bool {
        if case .signals = handler { return true }
        return false
    }

    func testAStaleTokenFindsNothingOnceItsSlotIsReused() {
        var registry = Registry()
        let listener = registry.insert(.clientListener)
        let signals = registry.insert(.signals)
        XCTAssertNotEqual(listener, signals)
        XCTAssertTrue(isSignals(registry[signals]))

        XCTAssertTrue(registry.remove(signals))
        XCTAssertFalse(registry.remove(signals), "removed once only")
        XCTAssertNil(registry[signals])
        let reused = registry.insert(.signals)
        XCTAssertEqual(reused & 0xFFFF_FFFF, signals & 0xFFFF_FFFF, "the freed slot is reused")
        XCTAssertNotEqual(reused, signals, "under a new generation")
        XCTAssertNil(registry[signals])
        XCTAssertTrue(isSignals(registry[reused]))
        XCTAssertNil(registry.client(reused), "not a client session")
        XCTAssertNil(registry[1 << 40], "never handed out")
        XCTAssertEqual(registry.handlers.count, 2)
    }
}

final class LogThrottleTests: XCTestCase {
    func testOneLinePerKindPerIntervalCountingTheRest() {
        var throttle = LogThrottle<String>(interval: 10)
        XCTAssertEqual(throttle.admit("a", now: 100), 0)
        XCTAssertNil(throttle.admit("a", now: 101))
        XCTAssertNil(throttle.admit("a", now: 109))
        XCTAssertEqual(throttle.admit("b", now: 109), 0, "kinds are limited separately")
        XCTAssertEqual(throttle.admit("a", now: 110), 2, "the next line counts those held back")
        XCTAssertNil(throttle.admit("a", now: 111))
        XCTAssertEqual(throttle.admit("a", now: 200), 1)
    }
}
