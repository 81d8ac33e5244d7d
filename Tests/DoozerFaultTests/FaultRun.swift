// One fault run, start to end: form the cluster, start the clients and the event tail, inject
// and heal faults round after round, then check convergence and the history, and summarise
// every number in one line.

import DoozerHistory
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fault run: owns its folder, the cluster, the clients, the tail and what went wrong.
final class FaultRun {
    /// What the environment asks for.
    struct Settings {
        var rounds = 14
        var seed = UInt64.random(in: 1...UInt64.max)
        /// Keep the data folders and logs even when the run passes.
        var keep = false

        /// `DOOZER_FAULT_ROUNDS`, `DOOZER_FAULT_SEED` (decimal), `DOOZER_FAULT_KEEP=1`.
        static func fromEnvironment() -> Settings {
            let environment = ProcessInfo.processInfo.environment
            var settings = Settings()
            if let rounds = environment["DOOZER_FAULT_ROUNDS"].flatMap({ Int($0) }), rounds > 0 { settings.rounds = rounds }
            if let seed = environment["DOOZER_FAULT_SEED"].flatMap({ UInt64($0) }) { settings.seed = seed }
            settings.keep = environment["DOOZER_FAULT_KEEP"] == "1"
            return settings
        }
    }

    /// What a run found: one summary line, the history and convergence anomalies, and the
    /// failures of the run itself (a node that died by itself, a cluster that took no write
    /// after a heal); each fails the test.
    struct Report {
        var summary = ""
        var anomalies: [String] = []
        var failures: [String] = []

        var problems: [String] { failures + anomalies }
    }

    /// Seconds every member has, after a heal, to take a write.
    static let writableWithin = 15.0

    let settings: Settings
    private let folder: String
    private let cluster: FaultCluster
    private let workload = Workload()
    private var tail: EventTail?
    private var report = Report()
    private var kinds: [FaultKind: Int] = [:]
    private var roundSeconds: [Double] = []
    private var slowestHeal = 0.0
    private var droppedPackets = 0
    private var lastHeal = 0.0

    init(settings: Settings, nft: String) throws {
        self.settings = settings
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-faults-\(getpid())-\(settings.seed)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        cluster = FaultCluster(binary: try DoozerdBinary.locate(), nft: nft, folder: folder, recorder: workload.recorder)
    }

    /// Everything, start to end; every process it started is stopped before it returns.
    func execute() -> Report {
        let started = Clock.seconds()
        do {
            try setUp()
            try rounds()
        } catch {
            report.failures.append("\(error)")
            _ = try? cluster.heal()  // the end checks still run, on a healed cluster if it can be
        }
        let (checks, nodes, library) = finish()
        report.summary = summary(checks: checks, nodes: nodes, library: library, wall: Clock.seconds() - started)
        cleanUp()
        return report
    }

    private func setUp() throws {
        try Namespace.bringLoopbackUp()
        try cluster.firewall.install()
        try cluster.form()
        let link = try ClientLink.dial(cluster.seed, timeout: 2)
        defer { link.close() }
        let firstRev = try link.rev(timeout: 5) + 1
        let tail = EventTail(nodes: cluster.nodes, firstRev: firstRev)
        self.tail = tail
        tail.start()
        workload.start(on: cluster.nodes, seed: settings.seed, firstRev: firstRev)
        log("formed: members \(cluster.members.map(\.name)), history from rev \(firstRev), seed \(settings.seed)")
    }

    private func rounds() throws {
        var planner = FaultPlanner(seed: settings.seed &+ 1)
        for round in 1...settings.rounds {
            let started = Clock.seconds()
            let fault = planner.next(cluster.nodes)
            kinds[fault.kind, default: 0] += 1
            log("round \(round)/\(settings.rounds): \(fault.description) for \(format(fault.hold)) s")
            try play(fault)
            roundSeconds.append(Clock.seconds() - started)
        }
    }

    /// Injects `fault`, holds it, heals, and waits until every member takes a write again.
    private func play(_ fault: Fault) throws {
        if fault.kind == .killAll { try letTailCatchUp() }
        try cluster.inject(fault)
        let writesBefore = workload.recorder.acknowledgedWrites
        usleep(UInt32(fault.hold * 1_000_000))  // the fault lasts this long
        let writesDuring = workload.recorder.acknowledgedWrites - writesBefore
        let exits = cluster.unexpectedExits()
        guard exits.isEmpty else { throw FaultError("during \(fault.description): \(exits.joined(separator: "; "))") }
        let healed = Clock.seconds()
        let dropped = try cluster.heal()
        droppedPackets += dropped
        let took = try cluster.awaitWritable(within: Self.writableWithin)
        lastHeal = Clock.seconds() - healed
        slowestHeal = max(slowestHeal, lastHeal)
        let each = took.keys.sorted().map { "\($0) \(format(took[$0]!))" }.joined(separator: ", ")
        log("  \(writesDuring) writes acknowledged during the fault, \(dropped) packets dropped, "
            + "\(workload.recorder.unknownCount) unknown outcomes so far; healed: every member took a write within \(format(lastHeal)) s (\(each))")
    }

    /// Before every node dies at once: the tail has read what the cluster holds now, so a
    /// restart from a snapshot cannot drop history it still needs.
    private func letTailCatchUp() throws {
        guard let tail, let rev = cluster.write("\(Keys.root)/probe/sync", through: cluster.members[0], timeout: 5),
              tail.awaitRead(through: rev, within: 10) else {
            throw FaultError("the event tail did not catch up before kill-all: \(tail?.problem ?? "no progress")")
        }
    }

    /// Stops the clients, writes the final value, lets the tail read it, and checks.
    private func finish() -> (HistoryChecks?, [Convergence.View], HistoryReport?) {
        workload.stop()
        guard let tail else { return (nil, [], nil) }
        guard let finalRev = cluster.write("\(Keys.root)/final", through: cluster.members[0], timeout: 10),
              tail.awaitRead(through: finalRev, within: 30) else {
            tail.stop()
            report.failures.append("the final write or its event did not come through: \(tail.problem ?? "timed out")")
            return (nil, [], nil)
        }
        tail.stop()
        let log = EventLog(tail.events.filter { $0.rev <= finalRev }, firstRev: tail.firstRev, lastRev: finalRev)
        var times = [Clock.seconds()]
        var convergence = Convergence(finalRev: finalRev, log: log)
        report.anomalies += convergence.run(cluster.nodes)
        times.append(Clock.seconds())
        let ops = workload.recorder.operations
        var checks = HistoryChecks(ops, log: log)
        checks.run()
        report.anomalies += checks.anomalies
        times.append(Clock.seconds())
        let final = convergence.views.filter { $0.problems.isEmpty }.map { StoreView(name: $0.node.label, files: $0.tree) }
        let library = LibraryChecks.run(ops, final: final)
        report.anomalies += library.violations.map(\.description)
        times.append(Clock.seconds())
        for undecided in library.undecided.prefix(3) { self.log("undecided: \(undecided)") }
        let took = zip(times, times.dropFirst()).map { format($1 - $0) }
        self.log("checked in \(took[0]) s (nodes), \(took[1]) s (event log), \(took[2]) s (DoozerHistory)")
        return (checks, convergence.views, library)
    }

    private func cleanUp() {
        cluster.stopAll()
        if report.problems.isEmpty && !settings.keep {
            try? FileManager.default.removeItem(atPath: folder)
        } else {
            for node in cluster.nodes { log("--- \(node.name), log \(node.logPath):\n\(node.logTail())") }
            log("kept \(folder); replay the same faults with DOOZER_FAULT_SEED=\(settings.seed) DOOZER_FAULT_ROUNDS=\(settings.rounds)")
        }
    }

    // MARK: The summary

    private func summary(checks: HistoryChecks?, nodes: [Convergence.View], library: HistoryReport?, wall: Double) -> String {
        let counts = checks?.counts ?? HistoryChecks.Counts()
        let ops = workload.recorder.operations
        let kindText = FaultKind.allCases.map { "\($0.rawValue)=\(kinds[$0] ?? 0)" }.joined(separator: " ")
        let perRound = roundSeconds.isEmpty ? 0 : roundSeconds.reduce(0, +) / Double(roundSeconds.count)
        let equal = nodes.filter { $0.problems.isEmpty && $0.tree == nodes.first?.tree }.count
        let fullHistory = nodes.filter { $0.historyFrom == tail?.firstRev }.count
        return "fault-rounds: seed=\(settings.seed) rounds=\(roundSeconds.count)/\(settings.rounds) \(kindText)"
            + " wall=\(format(wall))s per-round=\(format(perRound))s slowest-heal=\(format(slowestHeal))s last-heal=\(format(lastHeal))s"
            + " packets-dropped=\(droppedPackets) ops=\(ops.count) \(mix(ops)) writes-acked=\(counts.writesAcknowledged)"
            + " writes-refused=\(counts.writesRefused)(\(counts.refusedBy.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")))"
            + " writes-unknown=\(counts.writesUnknown) unknown-applied=\(counts.unknownApplied) reads-checked=\(counts.readsChecked)"
            + " reads-failed=\(counts.readsFailed) events=\(counts.events) nodes-equal=\(equal)/\(cluster.nodes.count)"
            + " nodes-with-whole-history=\(fullHistory)/\(cluster.nodes.count)"
            + " library-violations=\(library?.violations.count ?? 0) library-undecided=\(library?.undecided.count ?? 0)"
            + " anomalies=\(report.anomalies.count) failures=\(report.failures.count)"
    }

    /// Operations by kind: set (unconditional), cas (conditional SET), del, get, get-at.
    private func mix(_ ops: [HistoryOp]) -> String {
        var counts: [String: Int] = [:]
        for op in ops {
            switch op.call {
            case .set(_, _, let rev): counts[rev == -1 ? "set" : "cas", default: 0] += 1
            case .del: counts["del", default: 0] += 1
            case .get(_, let rev): counts[rev == nil ? "get" : "get-at", default: 0] += 1
            }
        }
        return ["set", "cas", "del", "get", "get-at"].map { "\($0)=\(counts[$0] ?? 0)" }.joined(separator: " ")
    }

    private func format(_ seconds: Double) -> String { String(format: "%.1f", seconds) }

    private func log(_ text: String) { say(text) }
}

/// Where the doozerd of this build is: `DOOZERD_BINARY`, or next to the test bundle (SwiftPM
/// puts both in the folder of the build configuration in use, e.g. `.build/release`).
enum DoozerdBinary {
    static func locate() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["DOOZERD_BINARY"] {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw FaultError("DOOZERD_BINARY=\(explicit) is not executable") }
            return explicit
        }
        var folder = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("doozerd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder.deleteLastPathComponent()
        }
        throw FaultError("no doozerd next to the test bundle: build it (swift build -c release) or set DOOZERD_BINARY")
    }
}
