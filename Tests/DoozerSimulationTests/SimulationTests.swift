import Foundation
import XCTest

/// Runs the deterministic cluster simulation over many seeds, each with its own swarm of
/// parameters. `DOOZER_SIM_SEEDS=n` runs n seeds (default 20; CI runs more in a release build),
/// `DOOZER_SIM_FIRST=s` starts at seed s, `DOOZER_SIM_SEED=s` replays one (printing its
/// parameters and counters), `DOOZER_SIM_TRACE=ms` also prints every node's log from that
/// simulated time on.
final class SimulationTests: XCTestCase {
    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    func testSeeds() throws {
        if let one = environment["DOOZER_SIM_SEED"].flatMap(UInt64.init) {
            try runSeed(one, verbose: true)
            return
        }
        let count = environment["DOOZER_SIM_SEEDS"].flatMap(Int.init) ?? 20
        let first = environment["DOOZER_SIM_FIRST"].flatMap(UInt64.init) ?? 1
        let started = Date()
        var operations = 0
        for seed in first..<(first + UInt64(count)) { operations += try runSeed(seed, verbose: false) }
        let seconds = Date().timeIntervalSince(started)
        print("simulation: \(count) seeds, \(operations) client operations checked in \(Int(seconds)) s (\(Int(Double(count) / seconds * 60)) seeds a minute)")
    }

    /// One seed, one run: nothing in the node core or the simulator may depend on anything but
    /// the seed (a dictionary's iteration order, the wall clock).
    func testASeedReplaysExactly() throws {
        for seed: UInt64 in [3, 11, 17] {
            let first = Simulation(seed: seed), second = Simulation(seed: seed)
            try? first.run()
            try? second.run()
            XCTAssertEqual(first.fingerprint, second.fingerprint, "seed \(seed)")
        }
    }

    /// Durable nodes under loss and frequent crashes (a quarter of them the whole cluster at
    /// once), slow disks and fast messages: the window in which a vote or a promise exists only
    /// in memory is wide. `DOOZER_SIM_SEEDS` scales the count (a tenth of it, at least 10).
    func testDurableCrashesUnderLoss() throws {
        for seed: UInt64 in 1...scaledCount() {
            var parameters = Simulation.Parameters()
            parameters.members = 3
            parameters.slaves = 0
            parameters.forgeries = false
            parameters.dropRate = 0.1
            parameters.partitions = true
            parameters.crashes = true
            parameters.durable = true
            parameters.faultGap = 30_000_000
            parameters.maxSyncDelay = 20_000_000
            try runSeed(seed, parameters: parameters, replay: "testDurableCrashesUnderLoss", verbose: false)
        }
    }

    /// Two live leaders: the leader cut off long enough for the others to elect another, then
    /// let back to one node while it still believes it leads, under writes to every member. An
    /// acceptor that votes below its promise hands the old leader a quorum here.
    func testTwoLiveLeaders() throws {
        for seed: UInt64 in 1...scaledCount() {
            var parameters = Simulation.Parameters()
            parameters.members = 3
            parameters.slaves = 0
            parameters.clients = 6
            parameters.operationsPerSecond = 400
            parameters.deposedLeaders = true
            parameters.forgeries = false
            parameters.faultGap = 400_000_000
            try runSeed(seed, parameters: parameters, replay: "testTwoLiveLeaders", verbose: false)
        }
    }

    /// Durable nodes whose disks fail: crashes that tear the last writes, syncs that fail with
    /// EIO, bits flipped in synced log segments (every segment replayed at a restart: no
    /// snapshot compacts them away). A node must restart from whatever a crash left, refuse to
    /// start from real damage, and never replay a record other than the one it wrote.
    func testDiskFaults() throws {
        for seed: UInt64 in 1...scaledCount() {
            var parameters = Simulation.Parameters()
            parameters.members = 3
            parameters.slaves = 1
            parameters.durable = true
            parameters.crashes = true
            parameters.diskFaults = true
            parameters.forgeries = false
            parameters.faultGap = 50_000_000
            parameters.snapshotEvery = 100_000
            parameters.segmentSize = 8 << 10   // many segments, so a flip has older ones to land in
            try runSeed(seed, parameters: parameters, replay: "testDiskFaults", verbose: false)
        }
    }

    /// A tenth of `DOOZER_SIM_SEEDS`, at least 10: the count of the targeted runs.
    private func scaledCount() -> UInt64 {
        environment["DOOZER_SIM_SEEDS"].flatMap(UInt64.init).map { max(10, $0 / 10) } ?? 10
    }

    @discardableResult
    private func runSeed(_ seed: UInt64, parameters: Simulation.Parameters? = nil, replay: String? = nil,
                         verbose: Bool) throws -> Int {
        let simulation = Simulation(seed: seed, parameters: parameters)
        simulation.traceFrom = environment["DOOZER_SIM_TRACE"].flatMap(Int64.init).map { $0 * 1_000_000 }
        do {
            try simulation.run()
            if verbose {
                print("seed \(seed): \(simulation.parameters)\n  \(simulation.stats), \(simulation.clients.operations) operations,"
                      + " \(simulation.watermarkSummary)")
            }
            return simulation.clients.operations
        } catch {
            XCTFail("""
                simulation seed \(seed) failed: \(error)
                parameters: \(simulation.parameters)
                replay: \(replay.map { "swift test --filter SimulationTests/\($0)" } ?? "DOOZER_SIM_SEED=\(seed) swift test --filter SimulationTests/testSeeds")
                """)
            throw error
        }
    }
}
