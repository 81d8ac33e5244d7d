// The clients of a fault run: a few threads, each with its own connection to one node, issuing
// random SETs (unique values), compare-and-sets, DELs, GETs of the latest state and GETs at a
// revision on a handful of shared keys, and recording every one.

import DoozerTestSupport
import Foundation
import Synchronization

/// The keys every client works on (few, so compare-and-sets contend).
enum Keys {
    static let root = "/fault"
    static let shared = (0..<6).map { "\(root)/k/\($0)" }
}

/// One client thread: owns its connection (redialled after an unknown outcome, under a new id),
/// what it last saw of each key on that connection, and its random choices.
final class Worker: @unchecked Sendable {
    /// Seconds a call may take before its outcome counts as unknown.
    static let callTimeout = 2.0
    /// Nanoseconds between one call's start and the next (a slave's reads would otherwise
    /// swamp the history with hundreds of thousands of operations a minute).
    static let spacing: UInt64 = 5_000_000

    let index: Int
    let node: FaultNode
    private let recorder: HistoryRecorder
    private let stopping: StopFlag
    private var random: SplitMix64
    private var link: ClientLink?
    /// File revs seen for each key on the current connection.
    private var seen: [String: Int64] = [:]
    /// The highest rev the current connection's node is known to have applied.
    private var applied: Int64 = 0
    /// The first rev of the run: reads at a rev never go below it.
    private let firstRev: Int64
    private var sequence = 0
    private let finished = DispatchSemaphore(value: 0)

    init(index: Int, node: FaultNode, seed: UInt64, firstRev: Int64, recorder: HistoryRecorder, stopping: StopFlag) {
        self.index = index
        self.node = node
        self.recorder = recorder
        self.stopping = stopping
        self.firstRev = firstRev
        random = SplitMix64(seed: seed)
    }

    func start() {
        let thread = Thread { [self] in
            defer { finished.signal() }
            while !stopping.isSet { step() }
            link?.close()
        }
        thread.name = "fault-worker-\(index)"
        thread.start()
    }

    /// Waits until the thread ended (it ends within one call timeout of `stopping`).
    func join() { finished.wait() }

    private func step() {
        guard let link = connected() else {
            usleep(50_000)  // the node is down or paused: dial again shortly
            return
        }
        let call = nextCall()
        let started = Clock.nanoseconds()
        let outcome = recorder.record(call, on: link) { link.perform(call, timeout: Self.callTimeout) }
        learn(call, outcome)
        let elapsed = Clock.nanoseconds() - started
        if elapsed < Self.spacing { usleep(UInt32((Self.spacing - elapsed) / 1000)) }
    }

    private func connected() -> ClientLink? {
        if link == nil {
            link = try? ClientLink.dial(node, timeout: 0.5)
            seen = [:]
            applied = 0
        }
        return link
    }

    /// A random operation; a slave mostly reads (its writes answer READONLY).
    private func nextCall() -> HistoryOp.Call {
        let key = random.pick(Keys.shared)
        let roll = random.below(100)
        let writes = node.isMember ? 55 : 5
        if roll < writes {
            return nextWrite(key, random.below(100))
        }
        if roll < writes + (100 - writes) / 3, applied >= firstRev {
            return .get(path: key, rev: firstRev + Int64(random.below(Int(applied - firstRev + 1))))
        }
        return .get(path: key, rev: nil)
    }

    private func nextWrite(_ key: String, _ roll: Int) -> HistoryOp.Call {
        sequence += 1
        let value = "w\(index).\(sequence)"
        switch roll {
        case ..<45: return .set(path: key, value: value, rev: -1)
        case ..<80: return .set(path: key, value: value, rev: seen[key] ?? 0)
        case ..<90: return .del(path: key, rev: -1)
        default: return .del(path: key, rev: seen[key] ?? 0)
        }
    }

    /// Remembers what the answer says about the node's state; drops the connection when the
    /// outcome is unknown (its next call goes out on a new one).
    private func learn(_ call: HistoryOp.Call, _ outcome: HistoryOp.Outcome) {
        switch (call, outcome) {
        case (.set(let path, _, _), .ok(let rev?, _)):
            seen[path] = rev
            applied = max(applied, rev)
        case (.get(let path, let at), .ok(let rev?, _)):
            seen[path] = rev
            applied = max(applied, rev, at ?? 0)
        case (_, .unknown):
            link?.close()
            link = nil
        default:
            break
        }
    }
}

/// The run's client threads, two per node.
final class Workload {
    let recorder = HistoryRecorder()
    private let stopping = StopFlag()
    private var workers: [Worker] = []

    func start(on nodes: [FaultNode], seed: UInt64, firstRev: Int64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<(2 * nodes.count) {
            let worker = Worker(index: index, node: nodes[index % nodes.count], seed: random.next(), firstRev: firstRev,
                                recorder: recorder, stopping: stopping)
            workers.append(worker)
            worker.start()
        }
    }

    /// Stops every thread and waits for it (each ends within one call timeout).
    func stop() {
        stopping.set()
        for worker in workers { worker.join() }
        workers = []
    }
}

/// A flag threads poll to know when to end; set once.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Runs `body(0..<count)` on `count` threads of its own (blocking calls never wait for a free
/// pool thread); returns their results, in order, once all ended.
func inParallel<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let slots = ResultSlots<T>()
    let done = DispatchSemaphore(value: 0)
    for index in 0..<count {
        Thread {
            slots.put(index, body(index))
            done.signal()
        }.start()
    }
    for _ in 0..<count { done.wait() }
    return (0..<count).map { slots.take($0) }
}

/// The results of `inParallel`'s threads, by index.
private final class ResultSlots<T: Sendable>: Sendable {
    private let values = Mutex([Int: T]())

    func put(_ index: Int, _ value: T) { values.withLock { $0[index] = value } }
    func take(_ index: Int) -> T { values.withLock { $0[index]! } }
}
