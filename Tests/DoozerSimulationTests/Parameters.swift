import DoozerConsensus

extension Simulation {
    enum FaultKind {
        case partition, healPartition, pause, crash, membershipChange, grayFailure, diskFault, deposedLeader, forgery
    }

    /// One run's configuration. `swarm` draws every knob from the seed (swarm testing: each
    /// seed its own mix, so the rare interleavings of one configuration are common in another);
    /// the named presets pin some.
    struct Parameters: CustomStringConvertible {
        /// Members and slaves the cluster is formed with (through a seed, `-a` joins and
        /// `/ctl/cal` claims, as users form one).
        var members = 3
        var slaves = 1
        /// Simulated time with faults, then time to heal and finish.
        var faultyTime: Int64 = 2_000_000_000
        var healTime: Int64 = 2_500_000_000
        /// Clients, each one connection at a time with one operation in flight, and how often
        /// each issues one.
        var clients = 4
        var operationsPerSecond = 100
        var durable = false
        /// Consensus knobs.
        var alpha: Int64 = 50
        var retainedInstances = 512
        var maxVotes = 512
        var electionTimeout: Int64 = 150_000_000
        /// Network faults.
        var dropRate = 0.0
        var duplicateRate = 0.0
        /// Datagrams with a bit flipped on the way.
        var corruptionRate = 0.0
        var maxDelay: Int64 = 2_000_000
        /// The peer transport's datagram size: small, so large messages are fragmented.
        var maxDatagram = 1400
        /// Fault kinds, each drawn among the others at every fault.
        var partitions = false
        var crashes = false
        var pauses = false
        var membershipChanges = false
        var grayFailures = false
        var diskFaults = false
        /// A targeted schedule: the leader is cut off one way (it hears nothing) and keeps
        /// proposing while the others elect a new one: two live leaders.
        var deposedLeaders = false
        /// A slave sends members forged decided entries.
        var forgeries = true
        /// Every datagram and record sealed with a peer key (the network's duplicates are then
        /// replays, refused).
        var peerKey = false
        /// A fault every `faultGap / 10` to `1.1 × faultGap`.
        var faultGap: Int64 = 200_000_000
        /// A durable node's disk syncs 20 µs to this long after a commit.
        var maxSyncDelay: Int64 = 2_000_000
        /// Each node's clock runs up to this fraction fast or slow, and starts up to this far off.
        var clockDrift = 0.0
        var clockSkew: Int64 = 0
        /// The leader removes nodes silent this long (`-timeout`); pulses this often.
        var memberTimeout: Int64 = 30_000_000_000
        var pulseInterval: Int64 = 1_000_000_000
        /// Durable snapshots after this many decided records; log segments of this many bytes.
        var snapshotEvery = 400
        var segmentSize = 64 << 10
        var history = 2000

        /// Every knob drawn from `rng`.
        static func swarm(_ rng: inout SplitMix64) -> Parameters {
            func pick<T>(_ choices: [T]) -> T { choices[Int(rng.next() % UInt64(choices.count))] }
            func coin() -> Bool { rng.next() % 2 == 0 }
            var p = Parameters()
            p.members = pick([1, 2, 3, 3, 4, 5, 5, 6, 7])
            p.slaves = pick([0, 1, 1, 2, 3])
            p.clients = pick([1, 2, 4, 6])
            p.operationsPerSecond = pick([50, 150, 400])
            p.durable = coin()
            p.alpha = pick([1, 2, 3, 4, 5, 6, 7, 8, 50])
            p.retainedInstances = pick([64, 512, 4096])
            p.maxVotes = pick([64, 512])
            p.electionTimeout = pick([50_000_000, 150_000_000, 300_000_000])
            p.dropRate = pick([0, 0, 0.01, 0.05, 0.2])
            p.duplicateRate = pick([0, 0.02, 0.1])
            p.corruptionRate = pick([0, 0, 0.001, 0.01])
            p.maxDelay = pick([200_000, 2_000_000, 20_000_000])
            p.maxDatagram = pick([600, 1400, 65_507])
            p.partitions = coin()
            p.crashes = coin()
            p.pauses = coin()
            p.membershipChanges = coin()
            p.grayFailures = rng.next() % 4 == 0
            p.diskFaults = p.durable && rng.next() % 3 == 0
            p.deposedLeaders = rng.next() % 4 == 0
            p.forgeries = rng.next() % 3 == 0
            p.faultGap = pick([50_000_000, 200_000_000, 400_000_000])
            p.maxSyncDelay = pick([200_000, 2_000_000, 20_000_000])
            p.clockDrift = pick([0, 0.001, 0.05])
            p.clockSkew = pick([0, 1_000_000_000, 1 << 40])
            p.memberTimeout = pick([1_500_000_000, 30_000_000_000])
            p.pulseInterval = pick([200_000_000, 1_000_000_000])
            p.snapshotEvery = pick([50, 400, 100_000])
            // Peeked, not drawn: the rest of the run's draws stay what they were before the key.
            var peek = rng
            p.peerKey = peek.next() % 3 == 0
            return p
        }

        /// The kinds of fault drawn from at every fault (a kind twice is drawn twice as often).
        var faultKinds: [FaultKind] {
            var kinds: [FaultKind] = []
            if partitions { kinds += [.partition, .healPartition] }
            if pauses { kinds.append(.pause) }
            if crashes { kinds += [.crash, .crash] }
            if membershipChanges { kinds += [.membershipChange, .membershipChange] }
            if grayFailures { kinds.append(.grayFailure) }
            if diskFaults { kinds.append(.diskFault) }
            if deposedLeaders { kinds.append(.deposedLeader) }
            if forgeries { kinds.append(.forgery) }
            return kinds
        }

        var options: ConsensusOptions {
            var o = ConsensusOptions()
            o.alpha = alpha
            o.retainedInstances = retainedInstances
            o.maxVotes = maxVotes
            o.maxEarly = maxVotes
            o.electionTimeout = electionTimeout
            o.durable = durable
            o.seqReservation = 16   // small, so restarts cross reservations often
            return o
        }

        var description: String {
            "members=\(members) slaves=\(slaves) clients=\(clients)@\(operationsPerSecond)/s durable=\(durable) α=\(alpha)"
                + " retained=\(retainedInstances) votes=\(maxVotes) election=\(electionTimeout / 1_000_000)ms"
                + " drop=\(dropRate) dup=\(duplicateRate) corrupt=\(corruptionRate) delay≤\(maxDelay / 1000)µs datagram=\(maxDatagram)\(peerKey ? " peer-key" : "")"
                + " faults=[\(partitions ? "partitions " : "")\(crashes ? "crashes " : "")\(pauses ? "pauses " : "")"
                + "\(membershipChanges ? "membership " : "")\(grayFailures ? "gray " : "")\(diskFaults ? "disk " : "")"
                + "\(deposedLeaders ? "deposed-leaders " : "")\(forgeries ? "forgeries" : "")] gap=\(faultGap / 1_000_000)ms sync≤\(maxSyncDelay / 1000)µs"
                + " drift=\(clockDrift) skew=\(clockSkew) timeout=\(memberTimeout / 1_000_000)ms pulse=\(pulseInterval / 1_000_000)ms"
                + " snapshotEvery=\(snapshotEvery)"
        }
    }
}
