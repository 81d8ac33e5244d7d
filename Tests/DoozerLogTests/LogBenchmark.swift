import DoozerLog
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A measurement, not a check: appends per second and commit latency with 64-byte records on
/// this machine's disk. Runs only with DOOZER_LOG_BENCH=1 (use a release build:
/// `swift test -c release -Xswiftc -enable-testing --filter LogBenchmark`); the directory is
/// a new one in DOOZER_LOG_BENCH_DIR or /tmp.
final class LogBenchmark: XCTestCase {
    func testMeasureAppendsAndCommits() throws {
        guard getenv("DOOZER_LOG_BENCH") != nil else { return }
        let directory = try TemporaryDirectory(in: getenv("DOOZER_LOG_BENCH_DIR").map { String(cString: $0) } ?? "/tmp")
        defer { directory.remove() }
        let (log, _) = try RecordLog.open(directory.path)
        defer { log.close() }
        let payload = [UInt8](repeating: 0x5A, count: 64)

        // Appends alone: encoding and checksumming into the pending batch.
        let appendCount = 500_000
        var appendNanoseconds: Int64 = 0
        for _ in 0..<4 {
            let start = ProcessEnvironment.monotonicNanoseconds()
            for _ in 0..<appendCount / 4 { try log.append(type: 1, payload: payload) }
            appendNanoseconds += ProcessEnvironment.monotonicNanoseconds() - start
            try log.flush()
        }

        // One record per commit: the latency of pwrite + fdatasync on the syncing thread.
        var latencies: [Int64] = []
        for _ in 0..<500 {
            try log.append(type: 1, payload: payload)
            let start = ProcessEnvironment.monotonicNanoseconds()
            log.commit()
            try log.awaitCompletion()
            latencies.append(ProcessEnvironment.monotonicNanoseconds() - start)
        }
        latencies.sort()

        // Group commit: 64 records per commit.
        let groupStart = ProcessEnvironment.monotonicNanoseconds()
        let groups = 300
        for _ in 0..<groups {
            for _ in 0..<64 { try log.append(type: 1, payload: payload) }
            log.commit()
            try log.awaitCompletion()
        }
        let groupSeconds = Double(ProcessEnvironment.monotonicNanoseconds() - groupStart) / 1e9

        let total = Double(latencies.reduce(0, +)) / 1e9
        print("""
            LogBenchmark (64-byte payloads, 73 bytes per record on disk):
              appends: \(Int(Double(appendCount) / (Double(appendNanoseconds) / 1e9))) per second
              single-record commits: \(Int(Double(latencies.count) / total)) per second, \
            p50 \(latencies[latencies.count / 2] / 1000) µs, p99 \(latencies[latencies.count * 99 / 100] / 1000) µs
              64-record commits: \(Int(Double(groups) / groupSeconds)) per second = \(Int(Double(groups * 64) / groupSeconds)) durable records per second
            """)
    }
}
