// The consensus core on its steady path, without a network: three `Consensus` members in one
// process, a stable leader, and batches of eight 64-byte writes. One measured iteration is one
// instance from the leader's batch to every member's `decided` output and `applied` report:
// eight `propose` calls, then messages handed between the members until none is left.
//
// What the counts mean: the leader forms one `Batch` per instance (the array of proposals it
// decides, which every member keeps in its decided log). Everything else the three members do
// per instance — votes, acknowledgements, watermarks, outputs, the decided log — must reuse
// storage: an extra allocation per message shows up here as a changed count.
//
// "Steady-instance" passes messages as values, so it measures the core alone.
// "Steady-instance-with-codec" also encodes every message with `PeerCodec` and decodes the
// copy the receiver gets, as the peer transport does: decoding an `accept` allocates its batch
// and one payload array per proposal on each follower.
import Benchmark
import DoozerConsensus

/// Three members that elected a leader, and the fixed inputs of one instance.
final class SteadyCluster: @unchecked Sendable {
    let peers = [PeerID(raw: 1), PeerID(raw: 2), PeerID(raw: 3)]
    var nodes: [Consensus]
    let codec: Bool
    var now: Int64 = 1_000_000_000
    /// Eight writes' payloads, built once: `propose` keeps a reference, never a copy.
    let payloads = (0..<8).map { i in [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: 64) }
    /// Outputs taken from a node, and messages waiting for delivery: reused buffers.
    var outputs: [Output] = []
    var mail: [(to: Int, from: PeerID, Message)] = []
    var mailHead = 0
    var encoded: [UInt8] = []
    var tag: UInt64 = 0

    init(codec: Bool) {
        self.codec = codec
        let schedule = [ScheduleEntry(from: 1, members: peers)]
        let bootstrap = Bootstrap(instance: 0, schedule: schedule, watermarks: [:])
        nodes = peers.map { Consensus(me: $0, bootstrap: bootstrap, now: 1_000_000_000, seed: $0.raw) }
        outputs.reserveCapacity(64)
        mail.reserveCapacity(64)
        encoded.reserveCapacity(4096)
        nodes[0].campaign()
        settle()
        // Warm every table to its working size: a few hundred instances past the decided
        // log's first trim and the watermark of every origin.
        for _ in 0..<5000 { instance() }
        guard nodes[0].isLeader, nodes.allSatisfy({ $0.decided == nodes[0].decided }) else {
            fatalError("the benchmark cluster did not reach a steady leader")
        }
    }

    /// One instance: eight writes at the leader, then every message until the cluster is quiet.
    func instance() {
        for payload in payloads {
            tag &+= 1
            guard nodes[0].propose(payload, tag: tag, now: now) == .accepted else { fatalError("propose refused") }
        }
        nodes[0].flush()
        settle()
    }

    /// Hands messages between the members and reports decided batches applied, until no node
    /// has anything to say.
    func settle() {
        var quiet = false
        while !quiet {
            quiet = true
            for i in nodes.indices {
                nodes[i].takeOutputs(into: &outputs)
                if !outputs.isEmpty { quiet = false }
                for output in outputs {
                    switch output {
                    case .send(let to, let message):
                        mail.append((Int(to.raw) - 1, peers[i], message))
                    case .decided(let instance, _, _):
                        nodes[i].applied(instance, members: peers)
                    case .snapshotNeeded, .abandoned, .persist:
                        fatalError("unexpected output \(output)")
                    }
                }
                outputs.removeAll(keepingCapacity: true)
                nodes[i].flush()
            }
            while mailHead < mail.count {
                quiet = false
                let (to, from, message) = mail[mailHead]
                mailHead += 1
                nodes[to].receive(codec ? roundTrip(message) : message, from: from, now: now)
            }
            mail.removeAll(keepingCapacity: true)
            mailHead = 0
        }
    }

    /// The message as a receiver decodes it from the bytes a sender encoded.
    func roundTrip(_ message: Message) -> Message {
        PeerCodec.encode(message, into: &encoded)
        defer { encoded.removeAll(keepingCapacity: true) }
        do {
            return try encoded.withUnsafeBytes { try PeerCodec.decode($0) }
        } catch {
            fatalError("a message did not decode: \(error)")
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.mallocCountTotal, .throughput, .wallClock],
        warmupIterations: 100,
        scalingFactor: .one,   // one measured iteration = one instance of eight writes
        maxDuration: .seconds(2),
        maxIterations: 20_000,
        thresholds: [.mallocCountTotal: BenchmarkThresholds(absolute: BenchmarkThresholds.Absolute.strict)])

    let core = Box<SteadyCluster?>(nil)
    Benchmark("Steady-instance", configuration: .init(setup: { core.value = SteadyCluster(codec: false) })) { benchmark in
        let cluster = core.value!
        for _ in benchmark.scaledIterations { cluster.instance() }
    }

    let withCodec = Box<SteadyCluster?>(nil)
    Benchmark("Steady-instance-with-codec", configuration: .init(setup: { withCodec.value = SteadyCluster(codec: true) })) { benchmark in
        let cluster = withCodec.value!
        for _ in benchmark.scaledIterations { cluster.instance() }
    }
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
