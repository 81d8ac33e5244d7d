import DoozerConsensus
import DoozerDurability
import DoozerHistory
import DoozerNode
import DoozerPeer
import DoozerStore
import DoozerSystem
import Logging

/// A deterministic cluster: every node runs the production node core (`SimulatedNode`: the
/// sequencer, the outbox, the peer transport's codec and checks, the durable log on a
/// simulated disk), on a simulated network and clock, with one seeded generator behind every
/// choice — message delays, drops, duplicates, reordering, partitions (symmetric and one-way),
/// pauses, slow nodes, clocks that drift, crashes (of one node or all; durable nodes restart
/// from what their disk kept, memory-only ones are replaced by new nodes joining from a
/// member's state), disk faults (failed syncs, torn writes, flipped bits), membership changes
/// under load (also across crashes), and a leader cut off while it keeps proposing. The
/// cluster is formed as users form one: a seed, nodes attached through a member, empty
/// `/ctl/cal` slots claimed. The same seed replays the same run.
///
/// Clients (`SimulatedClients`) write and read through the nodes and record every operation;
/// the checks run as the simulation goes (every revision any node applies equals every other
/// node's at that revision) and at the end (`verify`): equal trees everywhere, progress once
/// healed, and the client history checked by `DoozerChecks` (linearizable writes and
/// linearizable reads, reads correct for their revision, read-your-writes and monotonic reads
/// per connection, no write answered with an error ever applied, the final state).
final class Simulation {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let clusterName = "sim"
    /// The peer keys of a keyed run (`Parameters.peerKey`): each node gets its own contexts.
    static func peerKeys() -> PeerKeys { try! PeerKeys(keys: [Array(repeating: 0x5A, count: 32)]) }
    static func address(of index: Int) -> SocketAddress {
        try! SocketAddress.resolve("127.0.\(index / 250).\(index % 250 + 1):8046")
    }

    let seed: UInt64
    let parameters: Parameters
    private var rng: SplitMix64
    private(set) var now: Int64 = 0
    private var queue = EventQueue<() -> Void>()
    /// The current run of each node index (nil before it first started).
    private(set) var nodes: [SimulatedNode?] = []
    private var disks: [SimulatedDisk?] = []
    private var names: [[UInt8]] = []
    /// Nodes gone for good (memory-only crash, removed, wrecked disk): never restarted.
    private var gone: Set<Int> = []
    private var blocked: Set<[Int]> = []   // [from, to] pairs that lose every message
    private var healed = false
    private var failure: Failure?
    private(set) var clients: SimulatedClients!
    /// Every revision applied anywhere: the one order all replicas must share.
    private var canonical: [Int64: [UInt8]] = [:]
    private(set) var stats = Stats()
    /// Operator changes of `/ctl/cal` proposed and not settled, as the member sets they make.
    private var pendingSets: [[PeerID]] = []
    var traceFrom: Int64?
    private var notes: [String] = []

    struct Stats: CustomStringConvertible {
        var datagrams = 0, dropped = 0, crashes = 0, restarts = 0, replaced = 0, pauses = 0, partitions = 0
        var changes = 0, grayNodes = 0, failedSyncs = 0, flippedBits = 0, refusedToStart = 0, deposedLeaders = 0
        var forgeries = 0, reorderedCrashes = 0, tornWrites = 0, corrupted = 0
        var description: String {
            "datagrams=\(datagrams) dropped=\(dropped) crashes=\(crashes) restarts=\(restarts) replaced=\(replaced)"
                + " pauses=\(pauses) partitions=\(partitions) changes=\(changes) gray=\(grayNodes)"
                + " failedSyncs=\(failedSyncs) flippedBits=\(flippedBits) refusedToStart=\(refusedToStart)"
                + " deposedLeaders=\(deposedLeaders) forgeries=\(forgeries) reorderedCrashes=\(reorderedCrashes)"
                + " tornWrites=\(tornWrites) corrupted=\(corrupted)"
        }
    }

    init(seed: UInt64, parameters: Parameters? = nil) {
        self.seed = seed
        rng = SplitMix64(seed: seed)
        var parameterRNG = SplitMix64(seed: seed ^ 0x5EED)
        self.parameters = parameters ?? .swarm(&parameterRNG)
    }

    // MARK: Running

    /// Runs the whole scenario and checks it; throws the first violation found.
    func run() throws {
        defer { tearDown() }
        clients = SimulatedClients(world: self, count: parameters.clients)
        formCluster()
        let formed: Int64 = 400_000_000
        let end = formed + parameters.faultyTime + parameters.healTime
        at(formed) { self.clients.start() }
        at(formed + 50_000_000) { self.fault() }
        at(formed + parameters.faultyTime) { self.heal() }
        at(formed + parameters.faultyTime + 1_000_000_000) { self.clients.markProgress(start: true) }
        at(end - 1_000_000_000) {
            self.clients.markProgress(start: false)
            self.clients.stop()
        }
        while let (time, action) = queue.pop() {
            now = time
            action()
            if let failure { throw failure }
            // The nodes keep pulsing: the checks run at the first moment after the end when
            // every live node applied the same revision (two seconds at most).
            if time >= end && (converged || time > end + 2_000_000_000) { break }
        }
        stats.tornWrites = disks.compactMap { $0?.stats.tornWrites }.reduce(0, +)
        try verify()
    }

    private func at(_ time: Int64, _ action: @escaping () -> Void) { queue.push(at: time, action) }

    /// Runs `action` on `node` after `delay` of simulated time, as one loop iteration of its
    /// process (then `endIteration`): never for a process that died since, later for one
    /// paused (on resume) or busy (a slow node).
    func schedule(after delay: Int64, on node: SimulatedNode, _ action: @escaping (SimulatedNode) -> Void) {
        at(now + max(1, delay)) { self.run(action, on: node) }
    }

    private func run(_ action: @escaping (SimulatedNode) -> Void, on node: SimulatedNode) {
        guard node.alive else { return }
        if node.pausedUntil != nil {
            if node.inbox.count < 4096 { node.inbox.append { self.run(action, on: node) } }
            return
        }
        if node.busyUntil > now {
            return at(node.busyUntil) { self.run(action, on: node) }
        }
        action(node)
        node.endIteration()
        node.busyUntil = now + node.slowness
        if node.alive { checkMembers(of: node) }
    }

    /// The member set of each instance, as the first node that knew it exactly said.
    private var membersAt: [Int64: [PeerID]] = [:]

    /// Every node that knows the members of an instance exactly — those after the last it
    /// applied, up to α past it (and its decided prefix) — knows the same members as every
    /// other: one schedule on every replica.
    private func checkMembers(of node: SimulatedNode) {
        let consensus = node.sequencer.consensus
        let upper = min(consensus.decided + 1, consensus.applied + parameters.alpha)
        guard consensus.applied + 1 <= upper else { return }
        for instance in (consensus.applied + 1)...upper {
            let members = consensus.members(at: instance)
            if let known = membersAt[instance] {
                if known != members {
                    return fail("node \(node.index) takes \(members) for the members of instance \(instance), another took \(known)")
                }
            } else {
                membersAt[instance] = members
            }
        }
    }

    // MARK: Network

    func send(_ datagram: [UInt8], from node: SimulatedNode, to destination: SocketAddress) {
        stats.datagrams += 1
        guard let to = nodes.indices.first(where: { Self.address(of: $0) == destination }) else { return }
        if blocked.contains([node.index, to]) || (!healed && chance(parameters.dropRate)) {
            stats.dropped += 1
            return
        }
        let source = node.address
        var datagram = datagram
        if !healed && chance(parameters.corruptionRate) {
            // A bit flipped on the way that UDP's 16-bit checksum let through.
            stats.corrupted += 1
            datagram[Int(rng.next() % UInt64(datagram.count))] ^= UInt8(1) << UInt8(rng.next() % 8)
        }
        let copies = !healed && chance(parameters.duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            let delay = 50_000 + Int64(rng.next() % UInt64(healed ? 500_000 : parameters.maxDelay))
            at(now + delay) {
                guard let target = self.nodes[to] else { return }
                self.run({ node in
                    datagram.withUnsafeBytes { node.sequencer.receive(datagram: $0, from: source) }
                }, on: target)
            }
        }
    }

    func syncDelay() -> Int64 { 20_000 + Int64(rng.next() % UInt64(parameters.maxSyncDelay)) }

    // MARK: Nodes

    /// A node's log: the production `NodeLog` on its simulated disk, its blocking steps run by
    /// the simulation (small segments, so they roll over and compact often).
    private func openLog(_ index: Int, restorer: NodeRestorer? = nil) throws -> NodeLog {
        try NodeLog(path: "/data", history: parameters.history, historyBytes: 1 << 30,
                    schedule: NodeLog.Schedule(records: parameters.snapshotEvery, bytes: 1 << 30), logger: logger(for: index),
                    disk: NodeLog.Disk(io: disks[index]!.io, threads: false, segmentSize: parameters.segmentSize)) { restorer?.replay($0) }
    }

    private func newNode(_ index: Int, incarnation: Int, store: Store) -> SimulatedNode {
        let drift = parameters.clockDrift == 0 ? 1.0 : 1.0 + (Double(rng.next() % 2001) / 1000 - 1) * parameters.clockDrift
        let skew = parameters.clockSkew == 0 ? 0 : Int64(rng.next() % UInt64(parameters.clockSkew))
        return SimulatedNode(index: index, name: names[index], incarnation: incarnation, world: self, store: store,
                             disk: disks[index], clockRate: drift, clockOffset: skew)
    }

    private func makeConsensus(_ node: SimulatedNode, _ bootstrap: Bootstrap) -> Consensus {
        var consensus = Consensus(me: node.peer, options: parameters.options, bootstrap: bootstrap, now: node.now, seed: rng.next())
        consensus.limitInflight(to: 2 << 20)
        return consensus
    }

    private func addIndex(durable: Bool) -> Int {
        let index = nodes.count
        nodes.append(nil)
        disks.append(durable ? SimulatedDisk() : nil)
        names.append(Array("SIM\(seed % 100_000)N\(index)".utf8))
        return index
    }

    /// A seed, then the other nodes attached one by one through a member, then empty slots
    /// for the members to come, which slaves claim.
    private func formCluster() {
        let seed = addIndex(durable: parameters.durable)
        let store = Store(history: parameters.history)
        let node = newNode(seed, incarnation: 0, store: store)
        let layout = ClusterLayout.seed(clusterName: Self.clusterName, id: names[seed], address: node.address.description,
                                        hostname: "sim", version: "sim", namedInOwnTree: true)
        var nodeLog: NodeLog?
        if parameters.durable {
            nodeLog = try! openLog(seed)
            try! nodeLog!.recordIdentity(NodeLog.Identity(id: NodeID(bytes: names[seed]), clusterName: Self.clusterName))
            try! nodeLog!.recordLayout(layout, origin: node.peer)
        }
        nodes[seed] = node
        for mutation in layout { _ = node.applyDecided(mutation, proposal: nil) }
        node.attach(consensus: makeConsensus(node, .seed(node.peer)), nodeLog: nodeLog)
        node.sequencer.startSeed()
        node.endIteration()
        for i in 1..<(parameters.members + parameters.slaves) {
            at(Int64(i) * 20_000_000) { self.join(self.addIndex(durable: self.parameters.durable)) }
        }
        at(Int64(parameters.members + parameters.slaves) * 20_000_000 + 20_000_000) {
            for slot in 1..<self.parameters.members { self.operatorWrite(Mutation.set(Array("/ctl/cal/\(slot)".utf8), rev: 0, body: [])) }
        }
    }

    /// A new node (or one whose disk holds no state) attaches as the original's joiner does:
    /// it records its address through a member, then copies that member's state and follows.
    func join(_ index: Int) {
        guard !gone.contains(index) else { return }
        guard let donor = liveNodes().filter({ $0.isWritable }).randomElement(using: &rng) else {
            return at(now + 50_000_000) { self.join(index) }
        }
        guard reachable(index, donor.index) else { return at(now + 50_000_000) { self.join(index) } }
        let path = Array("/ctl/node/".utf8) + names[index] + Array("/addr".utf8)
        var answered = false
        donor.onStop[-1 - index] = { self.at(self.now + 50_000_000) { self.join(index) } }
        schedule(after: 1, on: donor) { donor in
            donor.submit(Mutation.set(path, rev: -1, body: Array(Self.address(of: index).description.utf8)), bookkeeping: false) { outcome in
                guard !answered else { return }
                answered = true
                donor.onStop[-1 - index] = nil
                guard case .applied(let event) = outcome, event.error == nil else { return self.at(self.now + 50_000_000) { self.join(index) } }
                self.at(self.now + 1_000_000 + Int64(self.rng.next() % 20_000_000)) { self.copyAndStart(index, from: donor) }
            }
        }
    }

    /// Whether the simulated network lets `a` and `b` talk both ways (a TCP connection).
    private func reachable(_ a: Int, _ b: Int) -> Bool { !blocked.contains([a, b]) && !blocked.contains([b, a]) }

    private func copyAndStart(_ index: Int, from donor: SimulatedNode) {
        guard donor.alive, donor.pausedUntil == nil, reachable(index, donor.index),
              let bootstrap = donor.sequencer.bootstrapState else {
            return join(index)
        }
        let snapshot = donor.store.current
        let node = newNode(index, incarnation: (nodes[index]?.incarnation ?? -1) + 1, store: Store(history: parameters.history, restoring: snapshot))
        var consensus = makeConsensus(node, bootstrap)
        consensus.upstream = donor.peer
        var nodeLog: NodeLog?
        if let disk = disks[index] {
            do {
                nodeLog = try openLog(index)
                if nodeLog!.recovered.identity == nil {
                    try nodeLog!.recordIdentity(NodeLog.Identity(id: NodeID(bytes: names[index]), clusterName: Self.clusterName))
                }
                try nodeLog!.recordJoinedState(snapshot, bootstrap, durable: consensus.durableState)
            } catch {
                note("node \(index): its disk refused the joined state: \(error)")
                disk.crash(&rng)
                return at(now + 50_000_000) { self.join(index) }
            }
        }
        nodes[index] = node
        node.attach(consensus: consensus, nodeLog: nodeLog)
        node.sequencer.startJoined()
        node.endIteration()
    }

    /// The process of `node` exited (its log failed, or the cluster removed it): a durable
    /// one whose log failed is restarted from its disk.
    func processExited(_ node: SimulatedNode, restart: Bool) {
        guard node.alive else { return }
        node.stop()
        if restart && node.disk != nil {
            stats.crashes += 1
            node.disk!.crash(&rng)   // what the failed sync did not make durable may be lost
            at(now + 1_000_000 + Int64(rng.next() % UInt64(2 * parameters.faultGap))) { self.restart(node.index) }
        } else {
            gone.insert(node.index)
        }
    }

    /// Starts a crashed durable node again from what its disk kept. A disk whose damage the
    /// log detects refuses to start (that is the point of its checksums); the node is then
    /// gone for good, as an operator would replace it.
    private func restart(_ index: Int) {
        guard !gone.contains(index), nodes[index]?.alive != true else { return }
        stats.restarts += 1
        let restorer = NodeRestorer(options: parameters.options, now: now, seed: rng.next())
        let nodeLog: NodeLog
        do {
            nodeLog = try openLog(index, restorer: restorer)
        } catch {
            stats.refusedToStart += 1
            note("node \(index) refused to start from its disk: \(error)")
            // Refusing is right only for damage a crash cannot explain (a flipped bit, pages
            // persisted out of order): the log must recover from any power cut.
            if !disks[index]!.damaged { fail("node \(index) refused to start after a crash that only lost unsynced writes: \(error)") }
            gone.insert(index)
            return
        }
        guard nodeLog.recovered.hasLayout, let restored = restorer.finish(nodeLog.recovered.durable) else {
            return join(index)   // crashed before it recorded any state: attaches again
        }
        // What the log gave back is what the cluster decided: every revision it still holds.
        let store = nodeLog.recovered.store
        for rev in stride(from: max(1, store.oldestRetained), through: store.rev, by: 1) {
            guard let event = store.event(at: rev), let known = canonical[rev] else { continue }
            if event.mutation != known {
                return fail("node \(index) recovered \(text(event.mutation)) at rev \(rev) from its disk; the cluster decided \(text(known))")
            }
        }
        let node = newNode(index, incarnation: (nodes[index]?.incarnation ?? 0) + 1, store: store)
        var consensus = restored
        consensus.limitInflight(to: 2 << 20)
        nodes[index] = node
        node.attach(consensus: consensus, nodeLog: nodeLog)
        node.sequencer.resume()
        node.endIteration()
    }

    /// The state copy a node that fell behind asked for: the donor's state now, delivered
    /// after a transfer time, if the donor is up.
    func copyState(from address: SocketAddress, to node: SimulatedNode) {
        let donor = nodes.compactMap { $0 }.first {
            $0.address == address && $0.alive && $0.pausedUntil == nil && reachable($0.index, node.index)
        }
        let result: Result<(Snapshot, Bootstrap), any Error>
        if let donor, let bootstrap = donor.sequencer.bootstrapState {
            result = .success((donor.store.current, bootstrap))
        } else {
            result = .failure(Failure(description: "no answer from \(address)"))
        }
        schedule(after: 1_000_000 + Int64(rng.next() % 30_000_000), on: node) { node in node.sequencer.stateCopied(result) }
    }

    func liveNodes() -> [SimulatedNode] { nodes.compactMap { $0 }.filter { $0.alive } }

    // MARK: Checks as it goes

    func applied(_ mutation: [UInt8], at rev: Int64, on node: SimulatedNode) {
        if let known = canonical[rev] {
            if known != mutation {
                fail("divergence at rev \(rev): node \(node.index) applied \(text(mutation)), another applied \(text(known))")
            }
        } else {
            canonical[rev] = mutation
        }
    }

    // MARK: Faults

    private func heal() {
        healed = true
        blocked = []
        for node in liveNodes() {
            node.slowness = 0
            if node.pausedUntil != nil { resume(node) }
        }
    }

    private func resume(_ node: SimulatedNode) {
        node.pausedUntil = nil
        let waiting = node.inbox
        node.inbox = []
        for event in waiting { event() }
    }

    private func fault() {
        guard !healed else { return }
        at(now + parameters.faultGap / 10 + Int64(rng.next() % UInt64(parameters.faultGap))) { self.fault() }
        let live = liveNodes()
        guard !live.isEmpty else { return }
        let kinds = parameters.faultKinds
        guard !kinds.isEmpty else { return }
        switch kinds[Int(rng.next() % UInt64(kinds.count))] {
        case .partition:
            stats.partitions += 1
            blocked = []
            let split = live.filter { _ in rng.next() % 2 == 0 }.map(\.index)
            let oneWay = rng.next() % 3 == 0
            for a in split { for b in live.map(\.index) where !split.contains(b) {
                blocked.insert([a, b])
                if !oneWay { blocked.insert([b, a]) }
            } }
        case .healPartition:
            blocked = []
        case .pause:
            let node = live.randomElement(using: &rng)!
            guard node.pausedUntil == nil else { return }
            stats.pauses += 1
            node.pausedUntil = now
            at(now + Int64(rng.next() % 600_000_000)) { if node.alive && node.pausedUntil != nil { self.resume(node) } }
        case .crash:
            crash(live)
        case .membershipChange:
            changeMembership(live)
        case .grayFailure:
            let node = live.randomElement(using: &rng)!
            stats.grayNodes += 1
            node.slowness = node.slowness > 0 ? 0 : [1_000_000, 5_000_000, 20_000_000][Int(rng.next() % 3)]
        case .diskFault:
            diskFault(live)
        case .deposedLeader:
            depose(live)
        case .forgery:
            forge(live)
        }
    }

    private func crash(_ live: [SimulatedNode]) {
        if parameters.durable {
            // Most often a node with records not yet synced (the window a lost write hides in);
            // a quarter of the time every node at once, as a power cut would.
            let targets = rng.next() % 4 == 0 ? live : [live.randomElement(using: &rng)!]
            for node in targets {
                stats.crashes += 1
                node.stop()
                // Rarely a write cache that kept later pages but not earlier ones: the log must
                // refuse to start (only where the cluster can do without the node).
                let reordered = parameters.diskFaults && gone.isEmpty && rng.next() % 8 == 0
                if reordered { stats.reorderedCrashes += 1 }
                node.disk!.crash(&rng, reordered: reordered)
                at(now + 1_000_000 + Int64(rng.next() % UInt64(2 * parameters.faultGap))) { self.restart(node.index) }
            }
        } else {
            // Memory-only: the node is gone for good, so only while every member set in force,
            // scheduled or being proposed keeps a live quorum without it; a new node joins.
            let victim = live.randomElement(using: &rng)!
            for members in memberSets() {
                let alive = members.filter { p in liveNodes().contains { $0.peer == p && $0 !== victim } }
                if alive.count < Consensus.quorum(members.count) { return }
            }
            stats.crashes += 1
            stats.replaced += 1
            victim.stop()
            gone.insert(victim.index)
            join(addIndex(durable: false))
        }
    }

    /// Every member set a live node knows of (in force or scheduled), its store's, and those
    /// of the operator's changes in flight.
    private func memberSets() -> [[PeerID]] {
        var sets = pendingSets
        for node in liveNodes() {
            for entry in node.sequencer.consensus.scheduleEntries where !sets.contains(entry.members) { sets.append(entry.members) }
            let current = Membership(node.store.current).members
            if !sets.contains(current) { sets.append(current) }
        }
        return sets
    }

    /// An operator's change, written through a live member like any client write: an empty
    /// slot for a slave to claim, a dead member's slot emptied, or a live member removed.
    private func changeMembership(_ live: [SimulatedNode]) {
        guard let via = live.first(where: { $0.pausedUntil == nil && $0.isWritable }) else { return }
        let snapshot = via.store.current
        var slots: [(path: [UInt8], body: [UInt8], rev: Int64)] = []
        snapshot.forEachFile(under: "/ctl/cal") { path, body, rev in slots.append((path, body, rev)) }
        let members = slots.filter { !$0.body.isEmpty }
        let peers = members.map { PeerID(nodeID: $0.body) }
        let slaves = live.filter { node in !peers.contains(node.peer) }
        var goneEntries: [(path: [UInt8], rev: Int64)] = []
        for index in gone.sorted() {
            snapshot.forEachFile(under: "/ctl/node/" + text(names[index])) { path, _, rev in goneEntries.append((path, rev)) }
        }
        if let dead = members.first(where: { slot in gone.contains { names[$0] == slot.body } }) {
            operatorWrite(Mutation.set(dead.path, rev: dead.rev, body: []))
        } else if let entry = goneEntries.first {
            operatorWrite(Mutation.delete(entry.path, rev: entry.rev))   // what the leader does after -timeout
        } else if members.count < 7, !slaves.isEmpty, !slots.contains(where: { $0.body.isEmpty }), rng.next() % 2 == 0 {
            operatorWrite(Mutation.set(Array("/ctl/cal/\(slots.count + Int(rng.next() % 4))".utf8), rev: 0, body: []),
                          making: peers)
        } else if members.count > 1, rng.next() % 3 == 0 {
            let victim = members.randomElement(using: &rng)!
            let rest = peers.filter { $0 != PeerID(nodeID: victim.body) }
            guard rest.filter({ p in live.contains { $0.peer == p } }).count >= Consensus.quorum(rest.count) else { return }
            operatorWrite(Mutation.delete(victim.path, rev: victim.rev), making: rest)
        }
    }

    private func operatorWrite(_ mutation: [UInt8], making set: [PeerID]? = nil) {
        guard let via = liveNodes().first(where: { $0.pausedUntil == nil && $0.isWritable }) else { return }
        stats.changes += 1
        if let set { pendingSets.append(set.sorted()) }
        via.submit(mutation, bookkeeping: false) { _ in
            if let set, let i = self.pendingSets.firstIndex(of: set.sorted()) { self.pendingSets.remove(at: i) }
        }
        via.endIteration()
    }

    private func diskFault(_ live: [SimulatedNode]) {
        let durable = live.filter { $0.disk != nil }
        guard let node = durable.randomElement(using: &rng) else { return }
        if rng.next() % 2 == 0 {
            // A bit flipped in what the node synced, found when it next starts (or not at all,
            // if compaction removes the file first); only where the cluster can do without it.
            guard gone.isEmpty, node.disk!.flipBit(under: "/data/log", &rng) else { return }
            stats.flippedBits += 1
            stats.crashes += 1
            node.stop()
            at(now + 1_000_000 + Int64(rng.next() % UInt64(parameters.faultGap))) { self.restart(node.index) }
        } else {
            stats.failedSyncs += 1
            node.disk!.failNextSync()
        }
    }

    /// Two live leaders. The leader is cut off from everyone for about an election timeout —
    /// long enough for the others to elect another, too short for it to notice it lost its
    /// quorum — then it hears one member again (and that member it): it goes on proposing at
    /// its old ballot to a node that promised the new one, while the new leader proposes to
    /// the same node. Or, one way only: it sends but hears nothing.
    private func depose(_ live: [SimulatedNode]) {
        guard let leader = live.first(where: { $0.sequencer.consensus.isLeader }) else { return }
        stats.deposedLeaders += 1
        blocked = []
        let others = live.filter { $0 !== leader }
        for other in others { blocked.insert([other.index, leader.index]) }
        guard rng.next() % 2 == 0, let bridge = others.randomElement(using: &rng) else { return }
        for other in others { blocked.insert([leader.index, other.index]) }
        let cutoff = parameters.electionTimeout + Int64(rng.next() % UInt64(parameters.electionTimeout))
        at(now + cutoff) {
            self.blocked.remove([leader.index, bridge.index])
            self.blocked.remove([bridge.index, leader.index])
        }
    }

    /// A slave the cluster let in (its address is in every table) sends members forged
    /// decided entries: nothing a non-member sends may make a node decide.
    private func forge(_ live: [SimulatedNode]) {
        let members = live.filter { $0.isWritable }
        let scheduled = Set(live.flatMap { $0.sequencer.consensus.scheduleEntries.flatMap(\.members) })
        guard let forger = live.first(where: { !scheduled.contains($0.peer) && $0.pausedUntil == nil }),
              !members.isEmpty else { return }
        stats.forgeries += 1
        for member in members {
            let next = member.sequencer.consensus.decided + 1
            let fake = Proposal(origin: forger.peer, seq: 1 << 40, tag: 0,
                                payload: Mutation.set(Array("/k/0".utf8), rev: -1, body: Array("forged".utf8)))
            _ = try? forger.sequencer.transport.send(.entries(decided: next + 1, leader: nil, [DecidedEntry(instance: next, batch: [fake])]),
                                                to: member.peer)
        }
        _ = try? forger.sequencer.transport.flush()
    }

    /// Ends every process and drops every pending event: the closures nodes and events hold
    /// refer back to the simulation, and each node's log holds descriptors (eventfds) that
    /// thousands of seeds in one process must give back.
    private func tearDown() {
        for node in nodes.compactMap({ $0 }) where node.alive { node.stop() }
        for node in nodes.compactMap({ $0 }) { node.inbox = [] }
        queue = EventQueue()
    }

    /// After a run that passed: how many watermarks each live node kept, for how many nodes ever.
    private(set) var watermarkSummary = ""

    // MARK: Verification

    private var converged: Bool {
        let revs = Set(liveNodes().map(\.store.rev))
        return revs.count == 1
    }

    private func verify() throws {
        let live = liveNodes()
        guard let top = live.max(by: { $0.store.rev < $1.store.rev }) else { throw Failure(description: "no node alive\n" + describeNodes()) }
        for node in live where node.store.rev != top.store.rev {
            throw Failure(description: "node \(node.index) stopped at rev \(node.store.rev), others reached \(top.store.rev)\n" + describeNodes())
        }
        let digest = Self.digest(top.store.current)
        for node in live where Self.digest(node.store.current) != digest {
            throw Failure(description: "node \(node.index) has a different tree at rev \(top.store.rev)")
        }
        var probe = rng
        for _ in 0..<3 {
            let rev = max(1, top.store.rev - Int64(probe.next() % 200))
            var seen = Set<UInt64>()
            for node in live { if case .snapshot(let s) = node.store.snapshot(at: rev) { seen.insert(Self.digest(s)) } }
            if seen.count > 1 { throw Failure(description: "replicas disagree on the tree at rev \(rev)") }
        }
        // De-duplication keeps watermarks only for nodes still in /ctl/node (or whose
        // retirement is still to be decided).
        for node in live {
            var present = Set<PeerID>()
            node.store.current.forEachFile(under: "/ctl/node") { path, _, _ in
                if path.suffix(5).elementsEqual("/addr".utf8) { present.insert(PeerID(nodeID: path.dropFirst(10).dropLast(5))) }
            }
            let consensus = node.sequencer.consensus
            let stale = consensus.watermarkOrigins.subtracting(present).subtracting(consensus.retiringOrigins)
            if !stale.isEmpty {
                throw Failure(description: "node \(node.index) keeps watermarks of \(stale.count) origins gone from /ctl/node: \(stale.sorted())\n" + describeNodes())
            }
        }
        watermarkSummary = "watermarks per node \(live.map { $0.sequencer.consensus.watermarkOrigins.count }) for \(nodes.count) nodes ever"
        try clients.verify(final: live.map { node in (name: "node \(node.index)", store: node.store.current) },
                           canonical: canonical, memberAtEnd: { index in self.nodes[index].map { $0.alive && $0.isWritable } ?? false })
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

    /// A digest of the whole run (the order decided and the counters), equal for equal seeds.
    var fingerprint: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for rev in canonical.keys.sorted() {
            for b in canonical[rev]! {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        return "\(h) \(stats) \(clients.operations) \(now)"
    }

    // MARK: Helpers

    func describeNodes() -> String {
        nodes.compactMap { $0 }.map { n in
            let c = n.sequencer.consensus
            return "  node \(n.index) \(n.peer) alive=\(n.alive) gone=\(gone.contains(n.index)) paused=\(n.pausedUntil != nil) rev=\(n.store.rev) decided=\(c.decided) applied=\(c.applied) member=\(c.isMember) leader=\(c.leader.map { "\($0)" } ?? "-") isLeader=\(c.isLeader) promised=\(c.promised) pending=\(c.pendingCount) schedule=\(c.scheduleEntries.map { "\($0.from):\($0.members.count)" })"
        }.joined(separator: "\n") + (notes.isEmpty ? "" : "\n  notes:\n" + notes.suffix(20).map { "    " + $0 }.joined(separator: "\n"))
    }

    func note(_ line: String) {
        notes.append("\(now / 1_000_000) ms: \(line)")
        if let traceFrom, now >= traceFrom { print(notes.last!) }
    }

    func logger(for index: Int) -> Logger {
        guard traceFrom != nil else { return Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() }) }
        var logger = Logger(label: "node \(index)", factory: { StreamLogHandler.standardOutput(label: $0) })
        logger.logLevel = .info
        return logger
    }

    func chance(_ p: Double) -> Bool { p > 0 && Double(rng.next() % 1_000_000) < p * 1_000_000 }

    func random(_ bound: UInt64) -> UInt64 { rng.next() % bound }

    func fail(_ message: String) {
        if failure == nil { failure = Failure(description: "at \(now / 1_000_000) ms: \(message)\n" + describeNodes()) }
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Runs `action` at `time` (the clients' events).
    func whenever(_ time: Int64, _ action: @escaping () -> Void) { at(time, action) }
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
