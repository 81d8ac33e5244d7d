import DoozerHistory
import XCTest

/// Builds doozer histories by hand, on path /k and session 1 unless told: `set("a", 0...1,
/// rev: 3)` is a SET answered at rev 3; `lostSet("b", from: 4)` one whose answer never came.
struct Script {
    var history: [ClientOp] = []

    mutating func set(_ body: Body, cond: Int64 = -1, _ t: ClosedRange<Int64>, rev: Int64,
                      path: String = "/k", session: Int = 1) {
        add(session, path, .set(body, cond: cond), t, .written(rev: rev))
    }

    mutating func refusedSet(_ body: Body, cond: Int64, _ t: ClosedRange<Int64>, _ reply: ClientOp.Reply = .revMismatch,
                             path: String = "/k", session: Int = 1) {
        add(session, path, .set(body, cond: cond), t, reply)
    }

    mutating func lostSet(_ body: Body, cond: Int64 = -1, from t: Int64, path: String = "/k", session: Int = 1) {
        history.append(ClientOp(session: session, path: path, .set(body, cond: cond), invoked: t, outcome: .unknown))
    }

    mutating func del(cond: Int64 = -1, _ t: ClosedRange<Int64>, _ reply: ClientOp.Reply = .deleted,
                      path: String = "/k", session: Int = 1) {
        add(session, path, .del(cond: cond), t, reply)
    }

    mutating func lostDel(cond: Int64 = -1, from t: Int64, path: String = "/k", session: Int = 1) {
        history.append(ClientOp(session: session, path: path, .del(cond: cond), invoked: t, outcome: .unknown))
    }

    /// A GET answered (body, rev); rev 0 is missing.
    mutating func get(_ t: ClosedRange<Int64>, _ body: Body, rev: Int64, at: Int64? = nil, storeRev: Int64? = nil,
                      path: String = "/k", session: Int = 1) {
        add(session, path, .get(at: at), t, .found(Version(body, rev: rev)), storeRev: storeRev)
    }

    mutating func getMissing(_ t: ClosedRange<Int64>, at: Int64? = nil, storeRev: Int64? = nil,
                             path: String = "/k", session: Int = 1) {
        get(t, .empty, rev: 0, at: at, storeRev: storeRev, path: path, session: session)
    }

    private mutating func add(_ session: Int, _ path: String, _ request: ClientOp.Request, _ t: ClosedRange<Int64>,
                              _ reply: ClientOp.Reply, storeRev: Int64? = nil) {
        history.append(ClientOp(session: session, path: path, request, invoked: t.lowerBound,
                                outcome: .returned(reply, at: t.upperBound), storeRev: storeRev))
    }

    func check(final: [StoreView] = [], _ options: DoozerChecks.Options = .init()) -> HistoryReport {
        DoozerChecks.check(history, final: final, options: options)
    }
}

/// One node's final files.
func view(_ files: [String: Version], name: String = "n1") -> StoreView { StoreView(name: name, files: files) }

/// The checks that found something, each once, in the order found.
func checks(_ report: HistoryReport) -> [Check] {
    var seen: Set<Check> = []
    return report.violations.map(\.check).filter { seen.insert($0).inserted }
}

func assertValid(_ report: HistoryReport, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(report.isValid, report.description, file: file, line: line)
    XCTAssertTrue(report.undecided.isEmpty, report.description, file: file, line: line)
}

/// The report has violations, every one from `expected` and each of `expected` among them.
func assertViolates(_ report: HistoryReport, _ expected: Set<Check>, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Set(checks(report)), expected, report.description, file: file, line: line)
}
