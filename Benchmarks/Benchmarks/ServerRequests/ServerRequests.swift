// Allocations per request on the read path (GET, REV, STAT) of a real node.
//
// A `DoozerServer.Server` runs on a thread of this process; the benchmark thread talks to it
// over a blocking loopback TCP connection. Each inner iteration writes pre-encoded request
// frames and reads the responses into a preallocated buffer, so the client allocates nothing
// and `mallocCountTotal` — counted process-wide by the malloc interposer — is the server's
// allocations for those requests. The committed threshold is zero (Thresholds/).
import Benchmark
import DoozerBenchmarkSupport
import DoozerWire

/// The node and the connection shared by every benchmark of the suite, started on first use
/// (so listing the benchmarks starts nothing).
final class Fixture: @unchecked Sendable {
    static let shared = Fixture()

    static let clusterName = "bench"
    static let filePath = "/bench/file64"
    static let fileBody = (0..<64).map { UInt8(ascii: "a") + UInt8($0 % 26) }

    let server: InProcessServer
    let client: BlockingClient

    private init() {
        do {
            server = try InProcessServer { $0.clusterName = Fixture.clusterName }
            client = try BlockingClient(connectingTo: server.address)
            let set = RequestFrames([Request(tag: 1, verb: .set, path: Fixture.filePath, value: Fixture.fileBody, rev: -1)])
            let answer = try client.roundTrip(set)
            guard answer.count == 1, answer[0].errCode == nil, (answer[0].rev ?? 0) > 0 else {
                fatalError("SET \(Fixture.filePath) failed: \(answer)")
            }
        } catch {
            fatalError("could not start the in-process doozerd: \(error)")
        }
    }
}

/// One benchmark's requests, and the exact response bytes they must produce (learnt and checked
/// in `setup`, compared on every measured exchange without decoding).
final class Exchange: @unchecked Sendable {
    let frames: RequestFrames
    let isExpected: ([Response]) -> Bool
    private(set) var responseBytes = -1

    init(_ requests: [Request], isExpected: @escaping ([Response]) -> Bool) {
        frames = RequestFrames(requests)
        self.isExpected = isExpected
    }

    func setUp() throws {
        let client = Fixture.shared.client
        let raw = client.exchange(frames)
        let responses = try BlockingClient.decode(raw)
        guard responses.count == frames.count, isExpected(responses) else {
            throw ClientError(description: "unexpected responses: \(responses)")
        }
        responseBytes = raw.count
    }
}

let benchmarks: @Sendable () -> Void = {
    // No `.instructions`: on Linux, package-benchmark 1.38 then reads /proc/self/io and
    // /proc/self/stat inside every measured window, adding ~16 mallocs of its own (README).
    let metrics: [BenchmarkMetric] = [.mallocCountTotal, .throughput, .wallClock]
    // `mallocCountTotal` may not move at all: the threshold files say 0, with no tolerance.
    let zeroAllocations = BenchmarkThresholds(absolute: BenchmarkThresholds.Absolute.strict)
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        warmupIterations: 10,
        scalingFactor: .kilo,   // one measured iteration = 1,000 exchanges
        maxDuration: .seconds(3),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: zeroAllocations])

    func roundTrips(_ name: String, _ requests: [Request], isExpected: @escaping ([Response]) -> Bool) {
        let exchange = Exchange(requests, isExpected: isExpected)
        Benchmark(name, configuration: .init(setup: { try exchange.setUp() })) { benchmark in
            let client = Fixture.shared.client
            let frames = exchange.frames
            let expectedBytes = exchange.responseBytes
            for _ in benchmark.scaledIterations {
                let response = client.exchange(frames)
                if response.count != expectedBytes { fatalError("response of \(response.count) bytes, expected \(expectedBytes)") }
                blackHole(response)
            }
        }
    }

    func isValue(_ expected: [UInt8]) -> (Response) -> Bool {
        { $0.errCode == nil && $0.value == expected && ($0.rev ?? 0) > 0 }
    }
    let clusterName = Array(Fixture.clusterName.utf8)

    roundTrips("GET-ctl-name", [Request(tag: 1, verb: .get, path: "/ctl/name")]) {
        $0.allSatisfy(isValue(clusterName))
    }
    roundTrips("GET-64B-file", [Request(tag: 1, verb: .get, path: Fixture.filePath)]) {
        $0.allSatisfy(isValue(Fixture.fileBody))
    }
    roundTrips("REV", [Request(tag: 1, verb: .rev)]) {
        $0.allSatisfy { $0.errCode == nil && ($0.rev ?? 0) > 0 }
    }
    roundTrips("STAT-ctl", [Request(tag: 1, verb: .stat, path: "/ctl")]) {
        $0.allSatisfy { $0.errCode == nil && $0.rev == -2 && ($0.len ?? 0) > 0 }
    }
    // 16 GETs in one write, 16 responses read: each inner iteration is a batch of 16 requests.
    roundTrips("GET-ctl-name-x16-pipelined", (0..<16).map { Request(tag: Int32($0), verb: .get, path: "/ctl/name") }) {
        $0.allSatisfy(isValue(clusterName)) && Set($0.compactMap(\.tag)) == Set(0..<16)
    }
}
