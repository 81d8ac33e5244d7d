import DoozerConsensus
import Foundation
import XCTest

/// Runs the deterministic cluster simulation over many seeds. `DOOZER_SIM_SEEDS=n` runs n
/// seeds (default 30; CI runs thousands in a release build); `DOOZER_SIM_SEED=s` replays one.
final class SimulationTests: XCTestCase {
    func testSeeds() throws {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["DOOZER_SIM_SEED"].flatMap(UInt64.init) {
            try runSeed(one, verbose: true)
            return
        }
        let count = environment["DOOZER_SIM_SEEDS"].flatMap(Int.init) ?? 30
        let first = environment["DOOZER_SIM_FIRST"].flatMap(UInt64.init) ?? 1
        for seed in first..<(first + UInt64(count)) { try runSeed(seed, verbose: false) }
    }

    /// One seed, one run: nothing in consensus or the simulator may depend on anything but
    /// the seed (e.g. a dictionary's iteration order).
    func testASeedReplaysExactly() throws {
        for seed: UInt64 in [3, 11, 17] {
            let first = Simulation(seed: seed), second = Simulation(seed: seed)
            try? first.run()
            try? second.run()
            XCTAssertEqual(first.fingerprint, second.fingerprint, "seed \(seed)")
        }
    }

    /// Without faults, members joining never unseat the leader: one election in the whole run.
    func testJoiningMembersKeepTheLeader() throws {
        for seed: UInt64 in 1...20 {
            var parameters = Simulation.Parameters()
            parameters.members = 1
            parameters.slaves = 3
            parameters.membershipChanges = true
            parameters.onlyAdditions = true
            let simulation = Simulation(seed: seed, parameters: parameters)
            simulation.traceFrom = ProcessInfo.processInfo.environment["DOOZER_SIM_TRACE"].flatMap(Int64.init).map { $0 * 1_000_000 }
            try simulation.run()
            let rounds = simulation.nodes.map { $0.consensus.promised.round }
            XCTAssertEqual(rounds.max(), 1, "seed \(seed): elections happened without a fault: \(simulation.describeNodes())")
        }
    }

    /// Durable nodes under loss and frequent crashes, slow disks and fast messages (the window
    /// in which a vote or a promise exists only in memory is wide), a quarter of the crashes of
    /// the whole cluster at once: no acknowledged write lost, no instance decided two ways.
    /// Seeds 8 and 10 fail if a node sends before its sync. `DOOZER_SIM_SEEDS` scales the count
    /// (20 by default; a tenth of it when set).
    func testDurableCrashesUnderLoss() throws {
        let count = ProcessInfo.processInfo.environment["DOOZER_SIM_SEEDS"].flatMap(UInt64.init).map { max(20, $0 / 10) } ?? 20
        for seed: UInt64 in 1...count {
            var parameters = Simulation.Parameters()
            parameters.members = 3
            parameters.slaves = 0
            parameters.dropRate = 0.1
            parameters.partitions = true
            parameters.crashes = true
            parameters.durable = true
            parameters.faultGap = 30_000_000
            parameters.maxSyncDelay = 20_000_000
            try runSeed(seed, parameters: parameters, replay: "testDurableCrashesUnderLoss", verbose: false)
        }
    }

    private func runSeed(_ seed: UInt64, parameters: Simulation.Parameters? = nil,
                         replay: String? = nil, verbose: Bool) throws {
        let simulation = Simulation(seed: seed, parameters: parameters)
        simulation.traceFrom = ProcessInfo.processInfo.environment["DOOZER_SIM_TRACE"].flatMap(Int64.init).map { $0 * 1_000_000 }
        do {
            try simulation.run()
            if verbose { print("seed \(seed): \(simulation.parameters) \(simulation.stats)") }
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
