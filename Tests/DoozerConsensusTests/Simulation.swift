import DoozerConsensus
import DoozerStore

/// A deterministic cluster: the real `Consensus` and the real `Store` on every node, a
/// simulated network and clock, and one seeded generator behind every choice — message
/// delays, drops, duplicates, reordering, partitions (symmetric and one-way), pauses, crashes
/// (state lost, as in memory-only mode) followed by a fresh node joining from a snapshot, and
/// membership changes under load. The same seed replays the same run.
///
/// Durable runs (`Parameters.durable`, as `-data` nodes) give every node a simulated disk: it
/// records what consensus asks to persist and every decided batch, syncs after a random delay,
/// and holds the node's messages and the application of decided batches until the sync, as the
/// server does. A crash then loses only what was never synced (a random prefix of the unsynced
/// records may survive, as after a power cut), and the node restarts with its identity from
/// its disk; any number of members may be down at once, the whole cluster included.
///
/// Checks run as the simulation goes (every revision any node applies must equal every other
/// node's at that revision) and at the end (`verify`).
final class Simulation {
    struct Parameters {
        var members = 3
        var slaves = 1
        /// Simulated time with faults, then time to heal and finish.
        var faultyTime: Int64 = 2_000_000_000
        var healTime: Int64 = 2_500_000_000
        var writesPerSecond = 400
        var dropRate = 0.0
        var duplicateRate = 0.0
        var maxDelay: Int64 = 2_000_000
        var partitions = false
        var crashes = false
        var pauses = false
        var membershipChanges = false
        /// Membership changes only add members (no fault at all, for liveness checks).
        var onlyAdditions = false
        /// Nodes keep durable state on a simulated disk and crashed ones restart from it.
        var durable = false
        /// A fault is injected every `faultGap / 10` to `1.1 × faultGap`.
        var faultGap: Int64 = 200_000_000
        /// A durable node's disk syncs 20 µs to this long after the first record waiting.
        var maxSyncDelay: Int64 = 2_000_000

        /// A mix of faults drawn from the seed.
        static func random(_ rng: inout SplitMix64) -> Parameters {
            var p = Parameters()
            p.members = [1, 3, 5, 5][Int(rng.next() % 4)]
            p.slaves = Int(rng.next() % 3)
            p.dropRate = [0, 0.01, 0.05, 0.2][Int(rng.next() % 4)]
            p.duplicateRate = [0, 0.02, 0.1][Int(rng.next() % 3)]
            p.maxDelay = [200_000, 2_000_000, 20_000_000][Int(rng.next() % 3)]
            p.partitions = rng.next() % 2 == 0
            p.crashes = rng.next() % 2 == 0
            p.pauses = rng.next() % 2 == 0
            p.membershipChanges = rng.next() % 2 == 0
            p.durable = rng.next() % 2 == 0
            return p
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    final class Node {
        let index: Int
        let name: [UInt8]
        let peer: PeerID
        var consensus: Consensus
        var store: Store
        var membership: Membership
        var alive = true
        var pausedUntil: Int64? = nil
        var inbox: [(PeerID, [UInt8])] = []
        var tickAt: Int64 = .max
        var candidacy = Ballot.zero
        /// Counts restarts: events meant for an earlier run of the node are ignored.
        var incarnation = 0
        /// Crashed for good and replaced by a fresh node (a durable node that crashed comes back).
        var replaced = false
        var disk = Disk()

        init(index: Int, name: [UInt8], consensus: Consensus, store: Store) {
            self.index = index
            self.name = name
            self.peer = PeerID(nodeID: name)
            self.consensus = consensus
            self.store = store
            self.membership = Membership(store.current)
        }
    }

    /// A durable node's simulated disk and what waits for its next sync.
    struct Disk {
        enum Record {
            /// The store and consensus state a node started from or installed: what came
            /// before is superseded.
            case base(Snapshot, Bootstrap)
            case change(DurableChange)
            case decided(Int64, Batch)
        }

        /// What waits for the sync: a message to send, or a decided batch to apply.
        enum Held {
            case send(PeerID, [UInt8])
            case decided(Int64, Batch)
        }

        var synced: [Record] = []
        var unsynced: [Record] = []
        var held: [Held] = []
        var syncPending = false
    }

    private enum Event {
        case deliver(to: Int, from: PeerID, bytes: [UInt8])
        case tick(Int)
        case sync(Int, incarnation: Int)
        case restart(Int)
        case resume(Int)
        case clientWrite
        case fault
        case heal
        case markProgress(start: Bool)
    }

    let seed: UInt64
    let parameters: Parameters
    private var rng: SplitMix64
    private(set) var now: Int64 = 0
    private var queue = EventQueue<Event>()
    private(set) var nodes: [Node] = []
    private var byPeer: [PeerID: Int] = [:]
    private var blocked: Set<[Int]> = []   // [from, to] pairs that lose every message
    private var healed = false

    /// Every revision applied anywhere, by revision: the one order all replicas must share.
    private var canonical: [Int64: [UInt8]] = [:]
    /// Every instance decided anywhere, as the (origin, seq) of what it admitted: one batch per
    /// instance on every replica (catches a replica that decided another batch even when the
    /// payloads happen to be equal bytes).
    private var decidedBatches: [Int64: [[UInt64]]] = [:]
    /// Client writes: tag → mutation; those acknowledged: tag → revision.
    private var written: [UInt64: (mutation: [UInt8], node: Int)] = [:]
    /// Writes issued once healed and settled, early enough to finish: all must complete.
    private var progressTags: Range<UInt64> = 0..<0
    private var acknowledged: [UInt64: Int64] = [:]
    private var nextTag: UInt64 = 1
    /// Membership changes proposed and not applied yet (tags from `changeTags` on): no crash
    /// is allowed while one is in flight, since the set it makes is not known yet.
    private var changesInFlight: Set<UInt64> = []
    private var nextChangeTag: UInt64 = 1 << 62
    private var failure: Failure?
    private(set) var stats = (messages: 0, dropped: 0, decided: 0, crashes: 0, restarts: 0, pauses: 0, partitions: 0, changes: 0)

    static let history = 2000

    init(seed: UInt64, parameters: Parameters? = nil) {
        self.seed = seed
        rng = SplitMix64(seed: seed)
        var paramRNG = SplitMix64(seed: seed ^ 0x5EED)
        self.parameters = parameters ?? Parameters.random(&paramRNG)
    }

    // MARK: Running

    /// Runs the whole scenario and checks it; throws the first violation found.
    func run() throws {
        formCluster()
        queue.push(at: 1_000_000, .clientWrite)
        queue.push(at: 50_000_000, .fault)
        queue.push(at: parameters.faultyTime, .heal)
        queue.push(at: parameters.faultyTime + 1_000_000_000, .markProgress(start: true))
        queue.push(at: parameters.faultyTime + parameters.healTime - 1_000_000_000, .markProgress(start: false))
        let end = parameters.faultyTime + parameters.healTime
        while let (time, event) = queue.pop(), time <= end {
            now = time
            handle(event)
            if let failure { throw failure }
        }
        now = end
        try verify()
    }

    private func formCluster() {
        let members = parameters.members
        let total = members + parameters.slaves
        let layout = Store(history: Simulation.history)
        let names = (0..<total).map { Array("SIM\(String($0 + 1000 * Int(seed % 1000)))".utf8) + Array("NODE".utf8) }
        layout.apply(Mutation.set("/ctl/name", rev: 0, body: "sim"))
        for i in 0..<members {
            layout.apply(Mutation.set(Array("/ctl/cal/\(i)".utf8), rev: -1, body: names[i]))
        }
        let bootstrap = Bootstrap(instance: 0,
                                  schedule: [ScheduleEntry(from: 1, members: names[0..<members].map { PeerID(nodeID: $0) })],
                                  watermarks: [:])
        for i in 0..<total {
            let store = Store(history: Simulation.history, restoring: layout.current)
            let consensus = Consensus(me: PeerID(nodeID: names[i]), options: options,
                                      bootstrap: bootstrap, now: 0, seed: rng.next())
            let node = Node(index: i, name: names[i], consensus: consensus, store: store)
            node.disk.synced = [.base(layout.current, bootstrap)]
            addNode(node)
            if i >= members { nodes[i].consensus.upstream = PeerID(nodeID: names[0]) }
        }
    }

    var options: ConsensusOptions {
        var o = ConsensusOptions()
        o.retainedInstances = 512   // small, so lagging nodes also exercise snapshot catch-up
        o.maxVotes = 512
        o.maxEarly = 512
        o.durable = parameters.durable
        o.seqReservation = 16       // small, so restarts cross reservations often
        return o
    }

    private func addNode(_ node: Node) {
        nodes.append(node)
        byPeer[node.peer] = node.index
        scheduleTick(node)
    }

    private func handle(_ event: Event) {
        switch event {
        case .deliver(let to, let from, let bytes):
            let node = nodes[to]
            guard node.alive else { return }
            if node.pausedUntil != nil {
                if node.inbox.count < 1024 { node.inbox.append((from, bytes)) }
                return
            }
            deliver(bytes, from: from, to: node)
        case .tick(let i):
            let node = nodes[i]
            guard node.tickAt == now else { return }   // superseded by an earlier tick
            node.tickAt = .max
            guard node.alive, node.pausedUntil == nil else { return }   // resume ticks
            tick(node)
            settle(node)
        case .sync(let i, let incarnation):
            let node = nodes[i]
            guard node.alive, node.incarnation == incarnation else { return }
            sync(node)
        case .restart(let i):
            restart(nodes[i])
        case .resume(let i):
            let node = nodes[i]
            guard node.alive else { return }
            node.pausedUntil = nil
            let inbox = node.inbox
            node.inbox = []
            tick(node)
            settle(node)
            for (from, bytes) in inbox where node.alive { deliver(bytes, from: from, to: node) }
        case .clientWrite:
            // The last second is quiet, so every replica can catch up before the checks.
            guard now < parameters.faultyTime + parameters.healTime - 1_000_000_000 else { return }
            clientWrite()
            let mean = 1_000_000_000 / Int64(max(1, parameters.writesPerSecond))
            let next = now + 1 + Int64(rng.next() % UInt64(2 * mean))
            queue.push(at: next, .clientWrite)
        case .fault:
            if !healed {
                injectFault()
                queue.push(at: now + parameters.faultGap / 10 + Int64(rng.next() % UInt64(parameters.faultGap)), .fault)
            }
        case .markProgress(let start):
            if start { progressTags = nextTag..<nextTag } else { progressTags = progressTags.lowerBound..<nextTag }
        case .heal:
            healed = true
            blocked = []
            for node in nodes where node.alive && node.pausedUntil != nil {
                queue.push(at: now, .resume(node.index))
            }
        }
    }

    /// Prints every delivery from this time (ns) on, when set (for replaying a seed).
    var traceFrom: Int64? = nil

    private func deliver(_ bytes: [UInt8], from: PeerID, to node: Node) {
        do {
            let message = try PeerCodec.decode(bytes)
            if let traceFrom, now >= traceFrom {
                print("\(now / 1000) µs: \(byPeer[from] ?? -1) → \(node.index): \(message)".prefix(300))
            }
            node.consensus.receive(message, from: from, now: now)
        } catch {
            fail("node \(node.index) could not decode a message it was sent: \(error)")
            return
        }
        node.consensus.flush()
        settle(node)
    }

    /// Carries out everything `node`'s consensus asked for until it asks for nothing more.
    private func settle(_ node: Node) {
        if let traceFrom, now >= traceFrom, node.consensus.candidacy != node.candidacy {
            node.candidacy = node.consensus.candidacy
            print("\(now / 1000) µs: node \(node.index) stands in round \(node.candidacy.round): \(describeNodes())")
        }
        while true {
            let outputs = node.consensus.takeOutputs()
            if outputs.isEmpty { break }
            for output in outputs {
                switch output {
                case .send(let to, let message):
                    if node.disk.unsynced.isEmpty && node.disk.held.isEmpty {
                        send(PeerCodec.encode(message), from: node, to: to)
                    } else {
                        node.disk.held.append(.send(to, PeerCodec.encode(message)))
                    }
                case .decided(let instance, let batch, let durableElsewhere):
                    if parameters.durable {
                        node.disk.unsynced.append(.decided(instance, batch))
                        // Durable at a quorum of other members already: applied at once, unless
                        // a decision that counts this node's vote waits before it.
                        let waiting = node.disk.held.contains { if case .decided = $0 { true } else { false } }
                        if durableElsewhere && !waiting {
                            apply(instance, batch, on: node)
                        } else {
                            node.disk.held.append(.decided(instance, batch))
                        }
                    } else {
                        apply(instance, batch, on: node)
                    }
                case .persist(let change):
                    node.disk.unsynced.append(.change(change))
                case .snapshotNeeded(let from):
                    installSnapshot(on: node, from: from)
                case .abandoned(let tags):
                    // Outcome unknown: never counted as acknowledged.
                    for tag in tags { changesInFlight.remove(tag) }
                }
            }
            if !node.disk.syncPending && !(node.disk.unsynced.isEmpty && node.disk.held.isEmpty) {
                node.disk.syncPending = true
                queue.push(at: now + 20_000 + Int64(rng.next() % UInt64(parameters.maxSyncDelay)), .sync(node.index, incarnation: node.incarnation))
            }
            node.consensus.flush()
        }
        scheduleTick(node)
    }

    /// The disk synced everything recorded so far: what waited for it goes out, in order.
    private func sync(_ node: Node) {
        node.disk.syncPending = false
        node.disk.synced += node.disk.unsynced
        node.disk.unsynced = []
        let held = node.disk.held
        node.disk.held = []
        for item in held {
            switch item {
            case .send(let to, let bytes):
                send(bytes, from: node, to: to)
            case .decided(let instance, let batch):
                // A snapshot installed meanwhile already holds it.
                if instance > node.consensus.applied { apply(instance, batch, on: node) }
            }
        }
        settle(node)
    }

    /// Starts a crashed durable node again from what its disk synced: the newest base, the
    /// durable changes and the decided batches after it.
    private func restart(_ node: Node) {
        guard !node.alive else { return }
        stats.restarts += 1
        var base: (Snapshot, Bootstrap)? = nil
        var state = DurableState()
        var decided: [(Int64, Batch)] = []
        for record in node.disk.synced {
            switch record {
            case .base(let snapshot, let bootstrap):
                base = (snapshot, bootstrap)
                decided = []
                state.decided(through: bootstrap.instance)
            case .change(let change):
                state.note(change)
            case .decided(let instance, let batch):
                let after = decided.last?.0 ?? base!.1.instance
                if instance == after + 1 {
                    decided.append((instance, batch))
                    state.decided(through: instance)
                } else if instance > after + 1 {
                    fail("node \(node.index)'s disk skips from instance \(after) to \(instance)")
                }
            }
        }
        let (snapshot, bootstrap) = base!
        node.store = Store(history: Simulation.history, restoring: snapshot)
        node.membership = Membership(node.store.current)
        node.consensus = Consensus(me: node.peer, options: options, bootstrap: bootstrap, now: now, seed: rng.next())
        for (instance, batch) in decided {
            for proposal in batch { node.membership.note(node.store.apply(proposal.payload).event) }
            node.consensus.replay(instance, batch)
            node.consensus.applied(instance, members: node.membership.refresh(node.store.current))
        }
        node.consensus.restore(state)
        _ = node.consensus.takeOutputs()
        if !node.consensus.isMember {
            node.consensus.upstream = node.consensus.members(at: node.consensus.applied + 1).first
        }
        node.alive = true
        node.inbox = []
        node.tickAt = .max
        scheduleTick(node)
    }

    private func apply(_ instance: Int64, _ batch: Batch, on node: Node) {
        stats.decided += 1
        let identity = batch.map { [$0.origin.raw, $0.seq] }
        if let known = decidedBatches[instance] {
            if known != identity {
                fail("node \(node.index) decided another batch at instance \(instance): \(identity) against \(known)")
            }
        } else {
            decidedBatches[instance] = identity
        }
        for proposal in batch {
            let applied = node.store.apply(proposal.payload)
            node.membership.note(applied.event)
            let rev = applied.event.seqn
            if let known = canonical[rev] {
                if known != proposal.payload {
                    fail("divergence at rev \(rev): node \(node.index) applied \(text(proposal.payload)), another applied \(text(known))")
                }
            } else {
                canonical[rev] = proposal.payload
            }
            // Own proposals of an earlier run (before a restart) are nobody's to answer.
            let own = proposal.origin == node.peer && proposal.seq >= node.consensus.firstOwnSeq
            if own { changesInFlight.remove(proposal.tag) }
            if own, written[proposal.tag]?.mutation == proposal.payload {
                if let earlier = acknowledged[proposal.tag] {
                    fail("write \(proposal.tag) acknowledged twice (revs \(earlier) and \(rev))")
                }
                acknowledged[proposal.tag] = rev
            }
        }
        node.consensus.applied(instance, members: node.membership.refresh(node.store.current))
    }

    private func installSnapshot(on node: Node, from peer: PeerID) {
        guard let donorIndex = byPeer[peer] else { return }
        let donor = nodes[donorIndex]
        guard donor.alive, donor.consensus.applied > node.consensus.applied else { return }
        node.store = Store(history: Simulation.history, restoring: donor.store.current)
        node.membership = Membership(node.store.current)
        node.consensus.install(donor.consensus.bootstrapState)
        if parameters.durable {
            // The installed state supersedes the disk's; the durable state is written again.
            node.disk.unsynced.append(.base(node.store.current, node.consensus.bootstrapState))
            for change in node.consensus.durableState.changes { node.disk.unsynced.append(.change(change)) }
        }
    }

    private func send(_ bytes: [UInt8], from: Node, to peer: PeerID) {
        stats.messages += 1
        guard let to = byPeer[peer] else { return }
        if blocked.contains([from.index, to]) || (!healed && chance(parameters.dropRate)) {
            stats.dropped += 1
            return
        }
        let copies = !healed && chance(parameters.duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            let delay = 50_000 + Int64(rng.next() % UInt64(healed ? 500_000 : parameters.maxDelay))
            queue.push(at: now + delay, .deliver(to: to, from: from.peer, bytes: bytes))
        }
    }

    /// A tick leaves nothing due: else the host's timer would fire again at once, and spin.
    private func tick(_ node: Node) {
        node.consensus.tick(now: now)
        if node.consensus.nextDeadline <= now {
            fail("node \(node.index): nothing done at its deadline, due again at once (\(node.consensus.nextDeadline))")
        }
    }

    private func scheduleTick(_ node: Node) {
        guard node.alive, node.pausedUntil == nil else { return }
        let at = max(now + 100_000, node.consensus.nextDeadline)
        if at < node.tickAt {
            node.tickAt = at
            queue.push(at: at, .tick(node.index))
        }
    }

    // MARK: Load and faults

    private func clientWrite() {
        let candidates = nodes.filter { $0.alive && $0.pausedUntil == nil && $0.consensus.isMember }
        guard !candidates.isEmpty else { return }
        let node = candidates[Int(rng.next() % UInt64(candidates.count))]
        let tag = nextTag
        nextTag += 1
        let key = rng.next() % 50
        // Sets carry their tag, so each is unique bytes and checked for exactly-once; deletes
        // and conditional sets (which often fail into /ctl/err) only exercise the paths.
        let mutation: [UInt8]
        var unique = false
        switch rng.next() % 10 {
        case 0: mutation = Mutation.delete(Array("/d/\(key)".utf8), rev: -1)
        case 1: mutation = Mutation.set(Array("/d/\(key)".utf8), rev: 0, body: Array("w\(tag)".utf8))
        default:
            mutation = Mutation.set(Array("/d/\(key)".utf8), rev: -1, body: Array("w\(tag)".utf8))
            unique = true
        }
        if case .accepted = node.consensus.propose(mutation, tag: tag, now: now), unique {
            written[tag] = (mutation, node.index)
        }
        node.consensus.flush()
        settle(node)
    }

    private func injectFault() {
        let live = nodes.filter { $0.alive }
        guard !live.isEmpty else { return }
        switch rng.next() % 6 {
        case 0 where parameters.partitions:
            stats.partitions += 1
            blocked = []
            let split = live.filter { _ in rng.next() % 2 == 0 }.map(\.index)
            let oneWay = rng.next() % 3 == 0
            for a in split { for b in live.map(\.index) where !split.contains(b) {
                blocked.insert([a, b])
                if !oneWay { blocked.insert([b, a]) }
            } }
        case 1 where parameters.partitions:
            blocked = []
        case 2 where parameters.pauses:
            let node = live[Int(rng.next() % UInt64(live.count))]
            guard node.pausedUntil == nil else { return }
            stats.pauses += 1
            let until = now + Int64(rng.next() % 600_000_000)
            node.pausedUntil = until
            queue.push(at: until, .resume(node.index))
        case 3 where parameters.crashes, 4 where parameters.crashes && parameters.durable:
            if parameters.durable && rng.next() % 3 != 0 {
                // Most often a node with writes not yet synced (the window a lost write hides
                // in); sometimes every node at once, as a power cut would.
                let exposed = live.filter { !$0.disk.unsynced.isEmpty }
                let pool = exposed.isEmpty || rng.next() % 4 == 0 ? live : exposed
                if rng.next() % 4 == 0 {
                    for node in live { crashAndRestart(node) }
                } else {
                    crashAndRestart(pool[Int(rng.next() % UInt64(pool.count))])
                }
            } else {
                crashAndReplace(live)
            }
        case 4, 5:
            if parameters.membershipChanges { changeMembership(live) }
        default:
            break
        }
    }

    /// Crashes a durable node (whatever the quorum: it comes back) and restarts it within two
    /// fault gaps (400 ms by default). Its disk keeps what was synced and a random prefix of
    /// the rest; what waited for the sync is lost with the process.
    private func crashAndRestart(_ victim: Node) {
        stats.crashes += 1
        victim.alive = false
        victim.incarnation += 1
        let kept = Int(rng.next() % UInt64(victim.disk.unsynced.count + 1))
        victim.disk.synced += victim.disk.unsynced.prefix(kept)
        victim.disk.unsynced = []
        victim.disk.held = []
        victim.disk.syncPending = false
        victim.pausedUntil = nil
        queue.push(at: now + 1_000_000 + Int64(rng.next() % UInt64(2 * parameters.faultGap)), .restart(victim.index))
    }

    /// Crashes a node only if every member set still in force keeps a live quorum, then
    /// starts a fresh node (new identity, empty memory) that joins from a snapshot.
    private func crashAndReplace(_ live: [Node]) {
        let victim = live[Int(rng.next() % UInt64(live.count))]
        guard changesInFlight.isEmpty else { return }
        for members in memberSets() {
            let alive = members.filter { p in byPeer[p].map { nodes[$0].alive && nodes[$0] !== victim } ?? false }
            if alive.count < members.count / 2 + 1 { return }
        }
        stats.crashes += 1
        victim.alive = false
        victim.replaced = true
        guard let donor = live.first(where: { $0 !== victim && $0.consensus.isMember && $0.pausedUntil == nil }) else { return }
        let index = nodes.count
        let name = Array("SIM\(index + 1000 * Int(seed % 1000))NODE".utf8)
        let store = Store(history: Simulation.history, restoring: donor.store.current)
        var consensus = Consensus(me: PeerID(nodeID: name), options: options,
                                  bootstrap: donor.consensus.bootstrapState, now: now, seed: rng.next())
        consensus.upstream = donor.peer
        let node = Node(index: index, name: name, consensus: consensus, store: store)
        node.disk.synced = [.base(store.current, donor.consensus.bootstrapState)]
        addNode(node)
    }

    /// Every member set a live node knows of, plus the one its store names now.
    private func memberSets() -> [[PeerID]] {
        var sets: [[PeerID]] = []
        for node in nodes where node.alive {
            for entry in node.consensus.scheduleEntries where !sets.contains(entry.members) { sets.append(entry.members) }
            let current = node.membership.members
            if !sets.contains(current) { sets.append(current) }
        }
        return sets
    }

    /// An operator's change: a slave takes a slot, or a member's slot is emptied (dead
    /// members first), written through a live member like any client write.
    private func changeMembership(_ live: [Node]) {
        guard let via = live.first(where: { $0.pausedUntil == nil && $0.consensus.isMember }) else { return }
        let members = via.membership.members
        // The operator empties the slots of nodes gone for good, not of those restarting.
        let dead = members.first { p in byPeer[p].map { nodes[$0].replaced } ?? false }
        let mutation: [UInt8]
        if let dead, let index = byPeer[dead] {
            mutation = Mutation.set(Array("/ctl/cal/\(index)".utf8), rev: -1, body: [])
        } else if members.count < 5, rng.next() % 2 == 0,
                  let slave = live.first(where: { !members.contains($0.peer) && !$0.consensus.isMember }) {
            mutation = Mutation.set(Array("/ctl/cal/\(slave.index)".utf8), rev: -1, body: slave.name)
        } else if members.count > 1, !parameters.onlyAdditions, rng.next() % 4 == 0 {
            // Removing a live member: safe only while the rest keep a live quorum.
            let victim = members[Int(rng.next() % UInt64(members.count))]
            let rest = members.filter { $0 != victim }
            let alive = rest.filter { p in byPeer[p].map { nodes[$0].alive } ?? false }
            guard alive.count >= rest.count / 2 + 1, let index = byPeer[victim] else { return }
            mutation = Mutation.set(Array("/ctl/cal/\(index)".utf8), rev: -1, body: [])
        } else {
            return
        }
        stats.changes += 1
        let tag = nextChangeTag
        nextChangeTag += 1
        if case .accepted = via.consensus.propose(mutation, tag: tag, now: now) { changesInFlight.insert(tag) }
        via.consensus.flush()
        settle(via)
    }

    // MARK: Checks

    private func verify() throws {
        // Every node that follows the cluster reached the same revision, with the same tree.
        let live = nodes.filter { $0.alive }
        guard let top = live.max(by: { $0.store.rev < $1.store.rev }) else { throw Failure(description: "no node alive") }
        let topRev = top.store.rev
        for node in live where node.store.rev != topRev {
            throw Failure(description: "node \(node.index) stopped at rev \(node.store.rev), others reached \(topRev)\n" + describeNodes())
        }
        let digest = Simulation.digest(top.store.current)
        for node in live where Simulation.digest(node.store.current) != digest {
            throw Failure(description: "node \(node.index) has a different tree at rev \(topRev)")
        }
        // Reads of retained revisions agree.
        var probe = rng
        for _ in 0..<3 {
            let rev = max(1, topRev - Int64(probe.next() % 200))
            var seen: [UInt64] = []
            for node in live {
                if case .snapshot(let s) = node.store.snapshot(at: rev) { seen.append(Simulation.digest(s)) }
            }
            if Set(seen).count > 1 { throw Failure(description: "replicas disagree on the tree at rev \(rev)") }
        }
        // Every acknowledged write is in the order, once, where it was acknowledged; no write
        // appears twice.
        var occurrences: [[UInt8]: Int] = [:]
        for (_, m) in canonical { occurrences[m, default: 0] += 1 }
        for (tag, rev) in acknowledged {
            guard let m = written[tag]?.mutation else { continue }
            if canonical[rev] != m { throw Failure(description: "write \(tag) acknowledged at rev \(rev) is not there") }
        }
        for (tag, w) in written where (occurrences[w.mutation] ?? 0) > 1 {
            throw Failure(description: "write \(tag) applied \(occurrences[w.mutation]!) times")
        }
        // Progress once healed: every write issued after the cluster settled, to a node that
        // is still a member, completed.
        for tag in progressTags {
            guard let w = written[tag], acknowledged[tag] == nil else { continue }
            let node = nodes[w.node]
            if node.alive && node.consensus.isMember {
                throw Failure(description: "no progress after healing: write \(tag) through node \(w.node) never completed\n" + describeNodes())
            }
        }
        if acknowledged.isEmpty { throw Failure(description: "no write was ever acknowledged") }
    }

    /// A digest of the whole run (the order decided and the counters), equal for equal seeds.
    var fingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for rev in canonical.keys.sorted() {
            for b in canonical[rev]! {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        return "\(h) \(stats) \(now)"
    }

    static func digest(_ snapshot: Snapshot) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        snapshot.forEachFile(under: "/") { path, body, rev in
            for b in path + [0] + body + Array(String(rev).utf8) {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        return h
    }

    // MARK: Helpers

    func describeNodes() -> String {
        nodes.map { n in
            let c = n.consensus
            return "  node \(n.index) \(n.peer) alive=\(n.alive) paused=\(n.pausedUntil != nil) rev=\(n.store.rev) decided=\(c.decided) applied=\(c.applied) member=\(c.isMember) leader=\(c.leader.map { String(describing: $0) } ?? "-") isLeader=\(c.isLeader) promised=\(c.promised) pending=\(c.pendingCount) schedule=\(c.scheduleEntries.map { "\($0.from):\($0.members.count)" })"
        }.joined(separator: "\n")
    }

    private func chance(_ p: Double) -> Bool {
        p > 0 && Double(rng.next() % 1_000_000) < p * 1_000_000
    }

    private func fail(_ message: String) {
        if failure == nil { failure = Failure(description: "at \(now / 1_000_000) ms: \(message)") }
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}

/// A binary min-heap of events by time, ties in insertion order (so runs are deterministic).
struct EventQueue<Element> {
    private var heap: [(time: Int64, order: UInt64, element: Element)] = []
    private var counter: UInt64 = 0

    mutating func push(at time: Int64, _ element: Element) {
        counter += 1
        heap.append((time, counter, element))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if less(heap[parent], heap[i]) { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Int64, Element)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(heap[l], heap[m]) { m = l }
            if r < heap.count && less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.element)
    }

    private func less(_ a: (time: Int64, order: UInt64, element: Element), _ b: (time: Int64, order: UInt64, element: Element)) -> Bool {
        a.time != b.time ? a.time < b.time : a.order < b.order
    }
}
