import DoozerHistory
import DoozerStore

/// The simulation's clients. Each holds one connection at a time to a node, with one operation
/// in flight, and records every operation it invokes (`ClientOp`): SETs with bodies unique to
/// the write, conditional SETs on the revision it last read, DELs, plain GETs (answered from
/// the node's replica, as doozer's are: recorded with the revision the node had applied),
/// GETs at a revision, and linearizable reads (a NOP through consensus, then a GET at its
/// revision: the library's linearizable read). A connection whose node died, or that the node
/// closed because it lost track of a write, ends its operation as unknown; the client connects
/// again, to any node, as a new session.
///
/// At the end, `verify` hands the history to `DoozerChecks` twice: the writes with the plain
/// reads (checked at their revision, read-your-writes and monotonic per connection), and the
/// writes with the linearizable reads (one linearizable history per path).
final class SimulatedClients {
    private unowned let world: Simulation
    private let count: Int
    private var history: [ClientOp] = []
    /// Which operations are linearizable reads (the rest of the GETs are plain ones).
    private var linearizable: Set<Int> = []
    private var sessions: [Int] = []
    /// Each client's connection: the node process it is connected to (a restarted process is
    /// another connection).
    private var nodes: [SimulatedNode?] = []
    /// Per client, the file revisions it last saw, by key: what its conditional writes use.
    private var seen: [[Int: Int64]] = []
    private var nextSession = 0
    private var running = false
    private var progress: Range<Int> = 0..<0
    /// The node each operation went through, the run of its process, and how often that run
    /// had stopped being a member when the operation was invoked.
    private var through: [Int] = []
    private var processes: [SimulatedNode] = []
    private var removalsAtInvoke: [Int] = []
    /// Operations waiting for their answer: the client, and the node process it went to.
    private var inFlight: [Int: (client: Int, node: SimulatedNode)] = [:]
    private static let keys = 12

    init(world: Simulation, count: Int) {
        self.world = world
        self.count = count
        sessions = Array(repeating: 0, count: count)
        nodes = Array(repeating: nil, count: count)
        seen = Array(repeating: [:], count: count)
    }

    var operations: Int { history.count }

    func start() {
        running = true
        for client in 0..<count { next(client) }
    }

    func stop() { running = false }

    /// Operations invoked between the two marks (once healed and settled) must complete.
    func markProgress(start: Bool) {
        if start { progress = history.count..<history.count } else { progress = progress.lowerBound..<history.count }
    }

    private func next(_ client: Int) {
        guard running else { return }
        let mean = 1_000_000_000 / Int64(max(1, world.parameters.operationsPerSecond))
        world.whenever(world.now + 1 + Int64(world.random(UInt64(2 * mean)))) { self.invoke(client) }
    }

    /// The client's node, connecting (as a new session) when it has none or its node is down.
    private func connection(_ client: Int) -> SimulatedNode? {
        if let node = nodes[client], node.alive { return node }
        let live = world.liveNodes()
        guard !live.isEmpty else { return nil }
        let node = live[Int(world.random(UInt64(live.count)))]
        nodes[client] = node
        nextSession += 1
        sessions[client] = nextSession
        return node
    }

    private func invoke(_ client: Int) {
        guard running, let node = connection(client) else { return next(client) }
        let key = Int(world.random(UInt64(Self.keys)))
        let path = "/k/\(key)"
        let op = history.count
        let session = sessions[client]
        func record(_ request: ClientOp.Request) {
            history.append(ClientOp(session: session, path: path, request, invoked: world.now, outcome: .unknown))
            through.append(node.index)
            processes.append(node)
            removalsAtInvoke.append(node.removals)
            inFlight[op] = (client, node)
            node.onStop[op] = { [unowned self] in finish(op, nil) }
        }
        // Each request reaches the node as one of its loop iterations: later if it is paused or
        // busy, never if it dies first (then its connection closes: the outcome is unknown).
        func atNode(_ action: @escaping (SimulatedNode) -> Void) { world.schedule(after: 1, on: node, action) }
        switch world.random(100) {
        case 0..<45:
            let cond: Int64 = switch world.random(10) {
            case 0: 0
            case 1, 2: seen[client][key] ?? 0
            default: -1
            }
            let body = Body("c\(client)-\(op)")
            record(.set(body, cond: cond))
            atNode { node in self.write(Mutation.set(Array(path.utf8), rev: cond, body: body.bytes), op: op, on: node) }
        case 45..<52:
            let cond: Int64 = world.random(2) == 0 ? -1 : seen[client][key] ?? 0
            record(.del(cond: cond))
            atNode { node in self.write(Mutation.delete(Array(path.utf8), rev: cond), op: op, on: node) }
        case 52..<85:
            record(.get(at: nil))
            atNode { node in self.answer(op, from: node.store.current, storeRev: node.store.rev) }
        case 85..<93:
            let rev = max(1, node.store.rev - Int64(world.random(40)) + 3)
            record(.get(at: rev))
            atNode { node in node.read(at: rev) { snapshot in self.answer(op, from: snapshot, storeRev: nil) } }
        default:
            // The library's linearizable read: a NOP through consensus, then a GET at its rev.
            record(.get(at: nil))
            linearizable.insert(op)
            atNode { node in
                node.submit(Mutation.nop, bookkeeping: false) { outcome in
                    guard case .applied(let event) = outcome else { return self.finish(op, nil) }
                    node.read(at: event.seqn) { snapshot in self.answer(op, from: snapshot, storeRev: event.seqn) }
                }
            }
        }
    }

    private func write(_ mutation: [UInt8], op: Int, on node: SimulatedNode) {
        node.submit(mutation, bookkeeping: false) { outcome in
            switch outcome {
            case .applied(let event):
                if event.error == .revMismatch {
                    self.finish(op, .revMismatch)
                } else if let error = event.error {
                    self.finish(op, .failed("\(error)"))
                } else if case .set = self.history[op].request {
                    self.finish(op, .written(rev: event.seqn))
                } else {
                    self.finish(op, .deleted)
                }
            case .refused(let failure):
                self.finish(op, .failed("\(failure)"))
            case .lost:
                self.finish(op, nil)
            }
        }
    }

    private func answer(_ op: Int, from snapshot: Snapshot?, storeRev: Int64?) {
        guard let snapshot else { return finish(op, .failed("TOO_LATE")) }
        var version = Version(.empty, rev: 0)
        if case .file(let body, let rev) = snapshot.lookup(history[op].path) { version = Version(Body(body), rev: rev) }
        history[op].storeRev = storeRev
        finish(op, .found(version))
    }

    /// Ends operation `op`: answered with `reply`, or (nil) its connection closed — outcome
    /// unknown, and the client connects again for its next one. The client goes on.
    private func finish(_ op: Int, _ reply: ClientOp.Reply?) {
        guard let (client, node) = inFlight.removeValue(forKey: op) else { return }
        node.onStop[op] = nil
        if let reply {
            history[op].outcome = .returned(reply, at: world.now)
            switch reply {
            case .written(let rev): seen[client][key(of: op)] = rev
            case .found(let version) where version.rev > 0: seen[client][key(of: op)] = version.rev
            default: break
            }
        } else {
            nodes[client] = nil
        }
        next(client)
    }

    private func key(of op: Int) -> Int { Int(history[op].path.dropFirst(3))! }

    // MARK: Verification

    func verify(final: [(name: String, store: Snapshot)], canonical: [Int64: [UInt8]], memberAtEnd: (Int) -> Bool) throws {
        var counts: [[UInt8]: Int] = [:]
        for rev in canonical.keys.sorted() where Self.isUnique(canonical[rev]!) { counts[canonical[rev]!, default: 0] += 1 }
        if let twice = counts.first(where: { $0.value > 1 }) {
            throw Simulation.Failure(description: "a write was applied \(twice.value) times: \(world.text(twice.key))")
        }
        for op in progress {
            // A read at a revision may wait for one nobody writes any more; writes must complete.
            if case .get(at: .some) = history[op].request { continue }
            guard case .unknown = history[op].outcome, memberAtEnd(through[op]), !linearizable.contains(op) else { continue }
            if inFlight[op] != nil {
                throw Simulation.Failure(description: "no progress after healing: #\(op) \(history[op]) through node \(through[op]) never completed\n" + world.describeNodes())
            }
            // Its connection closed. Faults armed before healing may still land after it (a
            // sync that fails, an operator's change decided late): the outcome is unknown when
            // the node's process stopped or the node left the membership during the operation.
            let process = processes[op]
            if !process.alive || process.removals > removalsAtInvoke[op] { continue }
            throw Simulation.Failure(description: "no progress after healing: #\(op) \(history[op]) through node \(through[op]) ended unknown, though its node neither stopped nor left the membership\n" + world.describeNodes())
        }
        let views = final.map { node in
            var files: [String: Version] = [:]
            node.store.forEachFile(under: "/k") { path, body, rev in files[String(decoding: path, as: UTF8.self)] = Version(Body(body), rev: rev) }
            return StoreView(name: node.name, files: files)
        }
        let plain = history.indices.map { linearizable.contains($0) ? nil : history[$0] }
        let report = DoozerChecks.check(plain.compactMap { $0 }, final: views, options: .init(linearizableReads: false))
        guard report.isValid else { throw Simulation.Failure(description: "client history (plain reads): \(report)") }
        let writesAndLinearizableReads = history.indices.filter { i in
            if case .get = history[i].request { return linearizable.contains(i) }
            return true
        }.map { history[$0] }
        let linear = DoozerChecks.check(writesAndLinearizableReads, final: views, options: .init(linearizableReads: true))
        guard linear.isValid else { throw Simulation.Failure(description: "client history (linearizable reads): \(linear)") }
        undecided = report.undecided.count + linear.undecided.count
    }

    /// Paths whose linearizability search ran out of budget in the last `verify`.
    private(set) var undecided = 0

    /// Whether `mutation` is a client SET (whose body is unique to the write).
    private static func isUnique(_ mutation: [UInt8]) -> Bool {
        guard case .set(_, let path, _)? = try? Mutation.decode(mutation) else { return false }
        return mutation[path].starts(with: Array("/k/".utf8))
    }
}
