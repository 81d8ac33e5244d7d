// The checks of a fault run's history against the order the cluster gave its writes (the event
// log). `LibraryChecks` runs the DoozerHistory library over the same history, without that log
// (a per-path linearizability search of the writes, reads, sessions, the final state); these
// checks place every write, unknown ones included, at the revision the cluster gave it.
//
// What holds in doozer, and is checked here:
// - writes are linearizable: an acknowledged SET is the event at its rev, with its unique value,
//   once; the revs of acknowledged writes respect real time; a write answered with a definite
//   error never appears; no event comes from nowhere; a compare-and-set applied only where its
//   condition held, and one refused met a state where it did not; every acknowledged DEL is
//   one delete event of its path within its real-time window, and every delete event belongs
//   to a DEL that was not refused;
// - reads are served by the node's own state (not linearizable across nodes): a GET at a rev
//   returns exactly the log's state there; a GET of the latest state returns a state the log
//   had, written by a SET invoked before the GET finished, and on one connection never older
//   than what that connection wrote or read before (read-your-writes, monotonic reads).

import Foundation

/// The events under /fault from the run's first rev to its last, by rev and by path.
struct EventLog {
    let firstRev: Int64
    let lastRev: Int64
    let byRev: [Int64: LoggedEvent]
    private let byPath: [String: [LoggedEvent]]

    init(_ events: [LoggedEvent], firstRev: Int64, lastRev: Int64) {
        self.firstRev = firstRev
        self.lastRev = lastRev
        byRev = Dictionary(events.map { ($0.rev, $0) }, uniquingKeysWith: { a, _ in a })
        byPath = Dictionary(grouping: events.sorted { $0.rev < $1.rev }, by: \.path)
    }

    /// The events of `path`, in rev order.
    func events(of path: String) -> [LoggedEvent] { byPath[path] ?? [] }

    /// `path`'s file rev (0: missing) and body right after `rev` was applied. Before the run
    /// nothing existed under /fault.
    func state(of path: String, at rev: Int64) -> (rev: Int64, value: String) {
        let events = events(of: path)
        let count = countThrough(rev, in: events)
        guard count > 0, !events[count - 1].isDel else { return (0, "") }
        return (events[count - 1].rev, events[count - 1].value)
    }

    /// The first rev from `floor` on at which `path` had file rev `fileRev` (0: missing); nil
    /// if it never had it again.
    func earliest(of path: String, fileRev: Int64, notBefore floor: Int64) -> Int64? {
        let events = events(of: path)
        if fileRev == 0 {
            if state(of: path, at: floor).rev == 0 { return floor }
            return events[countThrough(floor, in: events)...].first(where: \.isDel)?.rev
        }
        let index = countThrough(fileRev, in: events) - 1
        guard index >= 0, events[index].rev == fileRev else { return nil }
        let end = index + 1 < events.count ? events[index + 1].rev - 1 : Int64.max
        return end >= floor ? max(fileRev, floor) : nil
    }

    /// How many of `events` (in rev order) have a rev at most `rev`.
    private func countThrough(_ rev: Int64, in events: [LoggedEvent]) -> Int {
        var (low, high) = (0, events.count)
        while low < high {
            let middle = (low + high) / 2
            if events[middle].rev <= rev { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Runs every check over one history; owns what it found and what it counted.
struct HistoryChecks {
    /// What the checks looked at (the summary's numbers).
    struct Counts {
        var operations = 0
        var writesAcknowledged = 0
        var writesRefused = 0
        /// Refused writes by error code (REV_MISMATCH, READONLY, …).
        var refusedBy: [String: Int] = [:]
        var writesUnknown = 0
        var unknownApplied = 0
        var readsChecked = 0
        var readsFailed = 0
        var events = 0
    }

    private let ops: [HistoryOp]
    private let log: EventLog
    private let realTime: RealTimeBounds
    private var setByValue: [String: HistoryOp] = [:]
    private(set) var anomalies: [String] = []
    private(set) var counts = Counts()

    init(_ ops: [HistoryOp], log: EventLog) {
        self.ops = ops
        self.log = log
        realTime = RealTimeBounds(ops, floor: log.firstRev - 1)
        for op in ops {
            if case .set(_, let value, _) = op.call { setByValue[value] = op }
        }
    }

    mutating func run() {
        count()
        checkEvents()
        checkAcknowledgedSets()
        checkRefusals()
        for path in Set(ops.map(\.call.path)) { checkDeletes(of: path) }
        checkReads()
    }

    private mutating func count() {
        counts.operations = ops.count
        counts.events = log.byRev.count
        for op in ops where op.isWrite {
            switch op.outcome {
            case .ok: counts.writesAcknowledged += 1
            case .failed(let code, _):
                counts.writesRefused += 1
                counts.refusedBy[code.protocolName, default: 0] += 1
            case .unknown: counts.writesUnknown += 1
            }
        }
    }

    // MARK: Writes

    /// Every SET event comes from one SET that was not refused, once, where its condition held
    /// and not before it was invoked.
    private mutating func checkEvents() {
        var applied: Set<String> = []
        for event in log.byRev.values.sorted(by: { $0.rev < $1.rev }) where !event.isDel {
            guard let op = setByValue[event.value], case .set(let path, _, let condition) = op.call, path == event.path else {
                anomalies.append("event \(event.brief) comes from no SET of that path and value")
                continue
            }
            guard applied.insert(event.value).inserted else {
                anomalies.append("event \(event.brief): value applied twice")
                continue
            }
            switch op.outcome {
            case .failed(let code, _): anomalies.append("event \(event.brief): its SET was answered \(code.protocolName) (\(describe(op)))")
            case .ok(let rev?, _) where rev != event.rev: anomalies.append("event \(event.brief): its SET was acknowledged at rev \(rev)")
            case .unknown: counts.unknownApplied += 1
            default: break
            }
            let before = realTime.lower(op)
            if event.rev <= before { anomalies.append("event \(event.brief) precedes its SET: rev \(before) was acknowledged before it was invoked") }
            let current = log.state(of: path, at: event.rev - 1).rev
            if !Self.holds(condition, current) {
                anomalies.append("event \(event.brief): SET at condition \(condition) applied to file rev \(current) (\(describe(op)))")
            }
        }
    }

    /// Every acknowledged SET is the event at its rev, within its real-time window.
    private mutating func checkAcknowledgedSets() {
        for op in ops {
            guard case .set(let path, let value, _) = op.call, case .ok(let rev?, _) = op.outcome else { continue }
            let event = log.byRev[rev]
            if event?.path != path || event?.value != value || event?.isDel != false {
                anomalies.append("acknowledged \(describe(op)) lost: the log has \(event?.brief ?? "no /fault event") at rev \(rev)")
            }
            let (lower, upper) = (realTime.lower(op), realTime.upper(op))
            if rev <= lower || rev >= upper {
                anomalies.append("\(describe(op)) out of real-time order: acknowledged writes around it have revs \(lower) (before) and \(upper) (after)")
            }
        }
    }

    /// A refused conditional write met, somewhere in its window, a state where its condition
    /// failed; an unconditional one is never refused for its rev.
    private mutating func checkRefusals() {
        for op in ops {
            guard case .failed(.revMismatch, _) = op.outcome else { continue }
            let (path, condition): (String, Int64)
            switch op.call {
            case .set(let p, _, let c), .del(let p, let c): (path, condition) = (p, c)
            case .get: continue
            }
            let lower = realTime.lower(op)
            let upper = min(realTime.upper(op), log.lastRev + 1)
            var states = [log.state(of: path, at: lower).rev]
            states += log.events(of: path).filter { $0.rev > lower && $0.rev < upper - 1 }.map { $0.isDel ? 0 : $0.rev }
            if states.allSatisfy({ Self.holds(condition, $0) }) {
                anomalies.append("\(describe(op)) refused although its condition held at every rev in (\(lower), \(upper)): file revs \(states)")
            }
        }
    }

    /// Matches delete events to DELs that were not refused (each DEL makes exactly one, within
    /// its window; greedy by the earliest window end, which prefers acknowledged DELs).
    private mutating func checkDeletes(of path: String) {
        var open = ops.filter { op in
            guard case .del(let p, _) = op.call, p == path else { return false }
            if case .failed = op.outcome { return false }
            return true
        }.map { op -> (op: HistoryOp, lower: Int64, upper: Int64) in
            if case .ok = op.outcome { return (op, realTime.lower(op), realTime.upper(op)) }
            return (op, realTime.lower(op), Int64.max)
        }
        for event in log.events(of: path) where event.isDel {
            let fitting = open.indices.filter { open[$0].lower < event.rev && event.rev < open[$0].upper }
            guard let chosen = fitting.min(by: { open[$0].upper < open[$1].upper }) else {
                anomalies.append("event \(event.brief) belongs to no DEL of \(path) (none was pending, or each pending one is accounted for)")
                continue
            }
            if case .unknown = open[chosen].op.outcome { counts.unknownApplied += 1 }
            open.remove(at: chosen)
        }
        for (op, lower, upper) in open {
            if case .ok = op.outcome {
                anomalies.append("acknowledged \(describe(op)) lost: no delete of \(path) left between revs \(lower) and \(upper)")
            }
        }
    }

    // MARK: Reads

    private mutating func checkReads() {
        var floors: [Int: Int64] = [:]
        for op in ops {
            var floor = floors[op.connection] ?? 0
            switch (op.call, op.outcome) {
            case (.set, .ok(let rev?, _)):
                floor = max(floor, rev)
            case (.get(let path, let at), .ok(let rev?, let value)):
                counts.readsChecked += 1
                if let at {
                    checkRead(op, path, at: at, rev, value ?? "")
                    floor = max(floor, at)
                } else {
                    floor = checkLatest(op, path, rev, value ?? "", floor: floor)
                }
            case (.get(_, let at), .failed(let code, _)):
                counts.readsFailed += 1
                if !(code == .tooLate && at != nil) { anomalies.append("\(describe(op)): unexpected error") }
            default:
                break
            }
            floors[op.connection] = floor
        }
    }

    /// A GET at a rev returns the log's state there.
    private mutating func checkRead(_ op: HistoryOp, _ path: String, at: Int64, _ rev: Int64, _ value: String) {
        let expected = log.state(of: path, at: at)
        if expected.rev != rev || expected.value != value {
            anomalies.append("\(describe(op)): the log has file rev \(expected.rev) = \(expected.value.debugDescription) there")
        }
    }

    /// A GET of the latest state returns a state that existed, not written after the GET ended,
    /// no older than `floor` (what its connection wrote or saw); returns the new floor.
    private mutating func checkLatest(_ op: HistoryOp, _ path: String, _ rev: Int64, _ value: String, floor: Int64) -> Int64 {
        if rev > 0 {
            guard let event = log.byRev[rev], event.path == path, !event.isDel, event.value == value else {
                anomalies.append("\(describe(op)): no such state (the log has \(log.byRev[rev]?.brief ?? "no /fault event") at rev \(rev))")
                return floor
            }
            if let writer = setByValue[value], writer.invoke > op.complete {
                anomalies.append("\(describe(op)): read a value whose SET was invoked after the read ended")
            }
        } else if rev < 0 || !value.isEmpty {
            anomalies.append("\(describe(op)): not a file state")
            return floor
        }
        guard let earliest = log.earliest(of: path, fileRev: rev, notBefore: floor) else {
            anomalies.append("\(describe(op)): older than rev \(floor), which this connection already wrote or read")
            return floor
        }
        return earliest
    }

    // MARK: Helpers

    /// Doozer's write condition: -1 always, r ≥ 0 when the file's rev (0: missing) is at most r.
    static func holds(_ condition: Int64, _ current: Int64) -> Bool {
        condition == -1 || (condition >= 0 && condition >= current)
    }

    private func describe(_ op: HistoryOp) -> String {
        let call: String
        switch op.call {
        case .set(let path, let value, let rev): call = "SET \(path)=\(value) rev \(rev)"
        case .del(let path, let rev): call = "DEL \(path) rev \(rev)"
        case .get(let path, let rev): call = "GET \(path)\(rev.map { " rev \($0)" } ?? "")"
        }
        let outcome: String
        switch op.outcome {
        case .ok(let rev, let value): outcome = "ok" + (rev.map { " rev \($0)" } ?? "") + (value.map { " \($0.debugDescription)" } ?? "")
        case .failed(let code, let detail): outcome = code.protocolName + (detail.map { " \($0)" } ?? "")
        case .unknown(let why): outcome = "unknown (\(why))"
        }
        let seconds = String(format: "%.3f-%.3f", Double(op.invoke) / 1e9, Double(op.complete) / 1e9)
        return "op \(op.index) [conn \(op.connection) on \(op.node), t \(seconds)] \(call) -> \(outcome)"
    }
}

/// The revs acknowledged SETs pin around any operation: the highest acknowledged before it was
/// invoked, the lowest invoked after it completed (writes are linearizable, so its own
/// revision, if any, lies strictly between).
struct RealTimeBounds {
    private let completes: [UInt64]
    private let maxRevBefore: [Int64]
    private let invokes: [UInt64]
    private let minRevAfter: [Int64]
    private let floor: Int64

    init(_ ops: [HistoryOp], floor: Int64) {
        self.floor = floor
        let acked = ops.compactMap { op -> (op: HistoryOp, rev: Int64)? in
            guard case .set = op.call, case .ok(let rev?, _) = op.outcome else { return nil }
            return (op, rev)
        }
        let byComplete = acked.sorted { $0.op.complete < $1.op.complete }
        completes = byComplete.map(\.op.complete)
        maxRevBefore = byComplete.reduce(into: []) { $0.append(max($0.last ?? floor, $1.rev)) }
        let byInvoke = acked.sorted { $0.op.invoke < $1.op.invoke }
        invokes = byInvoke.map(\.op.invoke)
        minRevAfter = byInvoke.reversed().reduce(into: []) { $0.append(min($0.last ?? .max, $1.rev)) }.reversed()
    }

    /// The highest rev acknowledged before `op` was invoked.
    func lower(_ op: HistoryOp) -> Int64 {
        let count = partition(completes) { $0 < op.invoke }
        return count == 0 ? floor : maxRevBefore[count - 1]
    }

    /// The lowest rev of an acknowledged SET invoked after `op` completed (`Int64.max`: none).
    func upper(_ op: HistoryOp) -> Int64 {
        let index = partition(invokes) { $0 <= op.complete }
        return index == invokes.count ? .max : minRevAfter[index]
    }

    /// How many leading elements of the sorted `values` satisfy `isBefore`.
    private func partition(_ values: [UInt64], _ isBefore: (UInt64) -> Bool) -> Int {
        var (low, high) = (0, values.count)
        while low < high {
            let middle = (low + high) / 2
            if isBefore(values[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
