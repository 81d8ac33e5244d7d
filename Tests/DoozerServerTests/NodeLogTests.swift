import DoozerConsensus
import DoozerLog
@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import DoozerStore
import DoozerSystem
import Foundation
import Logging
import XCTest

/// `NodeLog`'s snapshot records, snapshot cycle and recovery, driven by hand (no event loop):
/// the newest usable snapshot plus the log after it gives back the store; damaged snapshots
/// fall back or refuse as documented.
final class NodeLogTests: XCTestCase {
    private var path = ""
    private let logger = Logger(label: "NodeLogTests")
    private let me = NodeLog.Identity(id: NodeID(bytes: Array("NODELOGTESTNODE1".utf8)), clusterName: "test")

    override func setUpWithError() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("nodelog-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: path)
    }

    private func open(every records: Int = 5) throws -> NodeLog {
        try NodeLog(path: path, history: 100, historyBytes: 1 << 20,
                    schedule: NodeLog.Schedule(records: records, bytes: 1 << 30), logger: logger)
    }

    /// A node log with its identity and layout, and the store it describes.
    private func fresh(every records: Int = 5) throws -> (NodeLog, Store) {
        let log = try open(every: records)
        try log.recordIdentity(me)
        let layout = [Mutation.set("/ctl/name", rev: -1, body: "test")]
        try log.recordLayout(layout, origin: PeerID(raw: 1))
        let store = Store(history: 100)
        layout.forEach { store.apply($0) }
        return (log, store)
    }

    /// Decides, syncs and applies one single-write batch per instance in `instances`, starting
    /// and finishing every snapshot that comes due on the way.
    private func write(_ instances: ClosedRange<Int64>, _ log: NodeLog, _ store: Store) throws {
        for instance in instances {
            let proposal = Proposal(origin: PeerID(raw: 1), seq: UInt64(instance), tag: 0,
                                    payload: Mutation.set("/f/\(instance)", rev: -1, body: "v\(instance)"))
            let record = try log.append(DecidedEntry(instance: instance, batch: [proposal]))
            try log.flush()
            _ = try log.reapCompletions()
            store.apply(proposal.payload)
            log.noteApplied(record: record, instance: instance)
            let bootstrap = Bootstrap(instance: instance, schedule: [ScheduleEntry(from: 1, members: [PeerID(raw: 1)])],
                                      watermarks: [PeerID(raw: 1): UInt64(instance)])
            log.snapshotIfDue(store.current, bootstrap: bootstrap)
            try finishSnapshotCycle(log)
        }
    }

    /// Runs the snapshot cycle in progress to its end: the file, its durable record, the removal.
    private func finishSnapshotCycle(_ log: NodeLog) throws {
        while log.snapshotInProgress {
            try log.flush()
            _ = try log.reapCompletions()   // a durable record: compaction starts the removal
            guard log.snapshotInProgress else { return }
            var entry = pollfd(fd: log.snapshotCompletionFD.rawValue, events: Int16(POLLIN), revents: 0)
            XCTAssertEqual(poll(&entry, 1, 60_000), 1, "the worker finishes its job")
            try log.snapshotJobDone(durable: DurableState(promised: Ballot(round: 3, leader: PeerID(raw: 1)), reservedSeq: 64))
        }
    }

    private func files(_ store: Store) -> [String: String] {
        var out: [String: String] = [:]
        store.current.forEachFile(under: "/f") { path, body, _ in
            out[String(decoding: path, as: UTF8.self)] = String(decoding: body, as: UTF8.self)
        }
        return out
    }

    private func snapshotFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path + "/snapshots").sorted()
    }

    private func segments() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path + "/log").filter { $0.hasSuffix(".log") }.sorted()
    }

    private func damage(_ name: String) throws {
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path + "/snapshots/" + name))
        try handle.seek(toOffset: 30)
        handle.write(Data([0xFF, 0xEE, 0xDD]))
        try handle.close()
    }

    func testSnapshotRecordRoundTripsAndRefusesUnknownFields() throws {
        let record = NodeLog.SnapshotRecord(file: NodeLog.snapshotName(rev: 42), rev: 42, instance: -1, coveredIndex: 7,
                                            identity: me)
        XCTAssertEqual(record.file, "00000000000000000042.dzsnap")
        XCTAssertEqual(try NodeLog.SnapshotRecord.decode(record.payload, index: 3), record)
        // With consensus's state: the bootstrap at its instance and the durable state.
        let peer = PeerID(raw: 9)
        var durable = DurableState(promised: Ballot(round: 4, leader: peer), reservedSeq: 1 << 20)
        durable.note(.vote(AcceptedEntry(instance: 13, ballot: Ballot(round: 4, leader: peer),
                                         batch: [Proposal(origin: peer, seq: 7, tag: 1, payload: [1, 2, 3])])))
        let member = NodeLog.SnapshotRecord(file: NodeLog.snapshotName(rev: 90), rev: 90, instance: 12, coveredIndex: 40,
                                            identity: me, bootstrap: Bootstrap(instance: 12, schedule: [ScheduleEntry(from: 1, members: [peer])],
                                                                               watermarks: [peer: 6]),
                                            durable: durable)
        XCTAssertEqual(try NodeLog.SnapshotRecord.decode(member.payload, index: 3), member)
        // A bootstrap at another instance than the record's is refused.
        var skewed = member
        skewed.bootstrap?.instance = 11
        XCTAssertThrowsError(try NodeLog.SnapshotRecord.decode(skewed.payload, index: 3))
        // A field from a later build is refused, not skipped.
        let later = record.payload + [9, 1, 0, 0, 0, 0xAA]
        XCTAssertThrowsError(try NodeLog.SnapshotRecord.decode(later, index: 3)) { error in
            XCTAssertTrue("\(error)".contains("record 3") && "\(error)".contains("found field 9"), "\(error)")
        }
        // Any prefix short of the whole record is refused, never trapped on.
        for cut in 0..<record.payload.count {
            XCTAssertThrowsError(try NodeLog.SnapshotRecord.decode(Array(record.payload.prefix(cut)), index: 3), "cut at \(cut)")
        }
    }

    /// Writes `instances` through a fresh node log that is then closed (its lock released);
    /// returns the files and revision the store had.
    private func populate(_ instances: ClosedRange<Int64>) throws -> (files: [String: String], rev: Int64) {
        let (log, store) = try fresh()
        try write(instances, log, store)
        try log.flush()
        return (files(store), store.rev)
    }

    func testRecoveryLoadsTheNewestSnapshotAndReplaysOnlyTheLogAfterIt() throws {
        let before = try populate(1...23)
        let log = try open()
        let recovered = log.recovered
        let base = try XCTUnwrap(recovered.base)
        XCTAssertEqual(base.instance, 20, "snapshots every 5 batches: the last one at instance 20")
        XCTAssertEqual(recovered.replayed, 3, "only the batches after the snapshot are replayed")
        XCTAssertEqual(recovered.lastInstance, 23)
        XCTAssertEqual(recovered.identity, me)
        XCTAssertEqual(files(recovered.store), before.files)
        XCTAssertEqual(recovered.store.rev, before.rev)
        // Consensus's state at the snapshot, and its durable state though compaction removed
        // the records that first held it.
        XCTAssertEqual(base.bootstrap?.instance, 20)
        XCTAssertEqual(base.bootstrap?.watermarks, [PeerID(raw: 1): 20])
        XCTAssertEqual(recovered.durable.promised.round, 3)
        XCTAssertEqual(recovered.durable.reservedSeq, 64)
        // Two snapshots are kept; the log before the older one's covered record is gone.
        let snapshots = try snapshotFiles(), segments = try segments()
        XCTAssertEqual(snapshots.count, 2, "\(snapshots)")
        XCTAssertGreaterThan(log.firstIndex, 1, "compacted: \(segments)")
        // Since the older snapshot: the segment started for the newer one (allocated, if no
        // prepared file was ready yet) and the prepared one that replaced it.
        XCTAssertLessThanOrEqual(segments.count, 3, "\(segments)")
    }

    func testADamagedNewestSnapshotFallsBackToTheOlderOne() throws {
        let before = try populate(1...23)
        try damage(try XCTUnwrap(try snapshotFiles().last))
        let recovered = try open().recovered
        XCTAssertEqual(recovered.base?.instance, 15, "the older kept snapshot")
        XCTAssertEqual(recovered.replayed, 8)
        XCTAssertEqual(files(recovered.store), before.files)
        XCTAssertEqual(recovered.store.rev, before.rev)
    }

    func testBothSnapshotsDamagedAfterCompactionRefusesNamingThem() throws {
        _ = try populate(1...23)
        let names = try snapshotFiles()
        for name in names { try damage(name) }
        XCTAssertThrowsError(try open()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("cannot recover the store"), text)
            for name in names { XCTAssertTrue(text.contains(name), "\(name) in: \(text)") }
            XCTAssertTrue(text.contains("the records before it are gone"), text)
        }
    }

    func testWithoutCompactionADamagedOnlySnapshotReplaysTheWholeLog() throws {
        let before = try populate(1...7)   // one snapshot, at instance 5: nothing removed yet
        try damage(try XCTUnwrap(try snapshotFiles().first))
        let recovered = try open().recovered
        XCTAssertNil(recovered.base)
        XCTAssertEqual(recovered.replayed, 8, "the layout and batches 1–7")
        XCTAssertEqual(files(recovered.store), before.files)
    }

    func testARestoredTreeIsTheFirstSnapshotAndOutlivesARestartBeforeTheLayout() throws {
        let source = Store(history: 10)
        for i in 0..<30 { source.apply(Mutation.set("/f/\(i)", rev: -1, body: "r\(i)")) }
        do {
            let log = try open()
            try log.recordIdentity(me)
            try log.recordRestoredTree(source.current)
        }
        let recovered = try open().recovered
        XCTAssertEqual(recovered.base?.instance, -1)
        XCTAssertFalse(recovered.hasLayout, "the layout was never written: the node seeds again")
        XCTAssertEqual(recovered.store.rev, 30)
        XCTAssertEqual(files(recovered.store), files(source))
        XCTAssertEqual(recovered.identity, me)
    }
}
