// LZ4 block compression (DoozerSystem.LZ4, over the system liblz4) of a ~1 MB snapshot-like
// blob. No snapshot serialisation format exists yet, so the blob is built by walking a store
// snapshot with `forEachFile` and concatenating, for every file, its path, a `=`, its body and
// a newline. The store holds 10,000 files (`/bench/dNN/fNN`) whose ~80-byte bodies look like
// node records (hex ids, addresses, counters) from a deterministic generator, so the blob
// compresses like real data rather than like a run of one byte.
//
// One compress (or decompress) of the whole blob per measured iteration (`scalingFactor: .one`).
// Each allocates exactly its output array: the committed thresholds are 1.
import Benchmark
import DoozerStore
import DoozerSystem

enum Blob {
    /// Deterministic pseudo-random numbers (64-bit LCG, top bits).
    struct Generator {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
    }

    static func hex(_ v: UInt64, digits: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// The serialized snapshot: path=body\n for every file, depth-first in bytewise order.
    static let bytes: [UInt8] = {
        var snapshot = Snapshot(emptyAt: 1)
        var g = Generator()
        for d in 0..<100 {
            for f in 0..<100 {
                let path = "/bench/d\(d < 10 ? "0" : "")\(d)/f\(f < 10 ? "0" : "")\(f)"
                let body = "{\"id\":\"\(hex(g.next(), digits: 10))\",\"addr\":\"10.\(g.next() % 256).\(g.next() % 256).\(g.next() % 256):8046\","
                    + "\"seq\":\(g.next() % 1_000_000),\"ok\":\(g.next() % 2 == 0)}"
                snapshot.insertFile(path, body: Array(body.utf8), rev: Int64(d * 100 + f + 1))
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        snapshot.forEachFile(under: "/") { path, body, _ in
            out.append(contentsOf: path)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: body)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }()

    static let compressed: [UInt8] = try! LZ4.compress(bytes)
}

let benchmarks: @Sendable () -> Void = {
    // No `.instructions`: it adds ~16 mallocs of the harness per measured iteration (README).
    let exact = BenchmarkThresholds(absolute: BenchmarkThresholds.Absolute.strict)
    Benchmark.defaultConfiguration = .init(
        metrics: [.mallocCountTotal, .throughput, .wallClock],
        warmupIterations: 5,
        scalingFactor: .one,   // one measured iteration = one whole blob
        maxDuration: .seconds(3),
        maxIterations: 1_000,
        thresholds: [.mallocCountTotal: exact])

    Benchmark("LZ4-compress-1MB-snapshot", configuration: .init(setup: {
        let back = try LZ4.decompress(Blob.compressed, originalCount: Blob.bytes.count)
        guard back == Blob.bytes else { fatalError("LZ4 round trip failed") }
        print("blob: \(Blob.bytes.count) bytes, compressed \(Blob.compressed.count) bytes")
    })) { benchmark in
        let input = Blob.bytes
        for _ in benchmark.scaledIterations {
            blackHole(try LZ4.compress(input))
        }
    }

    Benchmark("LZ4-decompress-1MB-snapshot", configuration: .init(setup: {
        _ = Blob.compressed
    })) { benchmark in
        let input = Blob.compressed
        let count = Blob.bytes.count
        for _ in benchmark.scaledIterations {
            blackHole(try LZ4.decompress(input, originalCount: count))
        }
    }
}
