import DoozerHistory
import DoozerStore
import DoozerTestSupport

/// Generates client histories that are right by construction: random clients, each one
/// operation at a time, invoke operations on a few paths; every operation takes effect on the
/// real `Store` at a random instant between its invocation and its answer, in the order of
/// those instants, and answers what the store says. Some answers are lost (outcome unknown,
/// the client reconnects as a new session); such a write is applied at some later instant or
/// never. With `laggingReads`, plain GETs answer from an older revision, as a node behind the
/// others would, but never older than what the session already saw or wrote.
struct HistoryGenerator {
    var paths = 4
    var clients = 4
    var operations = 400
    /// Chance in 1000 that an answer is lost.
    var lostPerMille = 20
    var laggingReads = false
    /// Longest time from invocation to taking effect, and from taking effect to the answer.
    var maxLatency: Int64 = 50

    struct Run {
        var history: [ClientOp]
        var views: [StoreView]
    }

    private struct Client {
        var session: Int
        var invoked: Int64
        var takesEffect: Int64
        var request: ClientOp.Request
        var path: String
        /// The highest revision this session wrote or read at (lagging reads stay above it).
        var seen: Int64 = 0
    }

    /// A write whose answer was lost, taking effect later (or, when it never does, not queued).
    private struct Orphan {
        var takesEffect: Int64
        var index: Int
    }

    func generate(seed: UInt64) -> Run {
        var rng = SplitMix64(seed: seed)
        let store = Store(history: operations + 10)
        var history: [ClientOp] = []
        var orphans: [Orphan] = []
        var nextSession = clients
        var bodies = 0
        var clientStates = (0..<clients).map { c in newOperation(session: c, at: Int64(rng.below(20)), &rng, store, &bodies) }
        while history.count < operations || !orphans.isEmpty {
            let c = clientStates.indices.min { clientStates[$0].takesEffect < clientStates[$1].takesEffect }!
            if let o = orphans.indices.min(by: { orphans[$0].takesEffect < orphans[$1].takesEffect }),
               orphans[o].takesEffect < clientStates[c].takesEffect || history.count >= operations {
                apply(history[orphans.remove(at: o).index], store)
                continue
            }
            var client = clientStates[c]
            let lost = rng.below(1000) < lostPerMille
            var op = ClientOp(session: client.session, path: client.path, client.request, invoked: client.invoked, outcome: .unknown)
            if lost {
                if client.request.isWrite && rng.below(2) == 0 {
                    orphans.append(Orphan(takesEffect: client.takesEffect + Int64(rng.below(20 * Int(maxLatency))), index: history.count))
                }
                history.append(op)
                client.session = nextSession
                client.seen = 0
                nextSession += 1
                clientStates[c] = newOperation(from: client, at: client.takesEffect + Int64(rng.below(Int(maxLatency))), &rng, store, &bodies)
                continue
            }
            let (reply, storeRev) = answer(&client, store, &rng)
            let answered = client.takesEffect + Int64(rng.below(Int(maxLatency)))
            op.outcome = .returned(reply, at: answered)
            op.storeRev = storeRev
            history.append(op)
            clientStates[c] = newOperation(from: client, at: answered + 1 + Int64(rng.below(10)), &rng, store, &bodies)
        }
        return Run(history: history, views: views(store))
    }

    private func newOperation(session: Int, at t: Int64, _ rng: inout SplitMix64, _ store: Store, _ bodies: inout Int) -> Client {
        let client = Client(session: session, invoked: 0, takesEffect: 0, request: .get(), path: "")
        return newOperation(from: client, at: t, &rng, store, &bodies)
    }

    private func newOperation(from previous: Client, at t: Int64, _ rng: inout SplitMix64, _ store: Store,
                              _ bodies: inout Int) -> Client {
        var client = previous
        client.invoked = t
        client.takesEffect = t + Int64(rng.below(Int(maxLatency)))
        client.path = "/p\(rng.below(paths))"
        client.request = request(for: client.path, &rng, store, &bodies)
        return client
    }

    private func request(for path: String, _ rng: inout SplitMix64, _ store: Store, _ bodies: inout Int) -> ClientOp.Request {
        let current: Int64
        if case .file(_, let rev) = store.current.lookup(path) { current = rev } else { current = 0 }
        let cond = rng.pick([-1, -1, -1, 0, current, current, max(0, current - 1), current + 5, -2])
        switch rng.below(10) {
        case 0..<4:
            return .get()
        case 4:
            return store.rev >= 1 ? .get(at: max(0, store.rev - Int64(rng.below(30)))) : .get()
        case 5:
            return .del(cond: cond)
        default:
            bodies += 1
            return .set(Body("b\(bodies)"), cond: cond)
        }
    }

    /// Applies the client's operation to the store (or reads it) and says what it answers.
    private func answer(_ client: inout Client, _ store: Store, _ rng: inout SplitMix64) -> (ClientOp.Reply, Int64?) {
        switch client.request {
        case .get(nil):
            let at = laggingReads ? client.seen + Int64(rng.below(Int(store.rev - client.seen) + 1)) : store.rev
            client.seen = max(client.seen, at)
            return (.found(version(of: client.path, at: at, store)), at)
        case .get(let r?):
            return (.found(version(of: client.path, at: max(r, 1), store)), nil)
        case .set, .del:
            let event = apply(ClientOp(session: 0, path: client.path, client.request, invoked: 0, outcome: .unknown), store)
            client.seen = max(client.seen, event.seqn)
            if event.error == .revMismatch { return (.revMismatch, nil) }
            assert(event.error == nil)
            if case .set = client.request { return (.written(rev: event.seqn), nil) }
            return (.deleted, nil)
        }
    }

    @discardableResult
    private func apply(_ op: ClientOp, _ store: Store) -> Event {
        switch op.request {
        case .set(let body, let cond): return store.apply(Mutation.set(Array(op.path.utf8), rev: cond, body: body.bytes)).event
        case .del(let cond): return store.apply(Mutation.delete(Array(op.path.utf8), rev: cond)).event
        case .get: preconditionFailure("only writes are applied")
        }
    }

    private func version(of path: String, at rev: Int64, _ store: Store) -> Version {
        guard rev >= 1, case .snapshot(let snapshot) = store.snapshot(at: rev) else { return Version(.empty, rev: 0) }
        if case .file(let body, let fileRev) = snapshot.lookup(path) { return Version(Body(body), rev: fileRev) }
        return Version(.empty, rev: 0)
    }

    private func views(_ store: Store) -> [StoreView] {
        var files: [String: Version] = [:]
        for p in 0..<paths {
            let v = version(of: "/p\(p)", at: store.rev, store)
            if v.rev > 0 { files["/p\(p)"] = v }
        }
        return [StoreView(name: "n1", files: files), StoreView(name: "n2", files: files)]
    }
}

extension ClientOp.Request {
    var isWrite: Bool {
        if case .get = self { return false }
        return true
    }
}
