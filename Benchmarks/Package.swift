// swift-tools-version:6.1
// Benchmarks for Doozer for Swift. A separate package so that the benchmark harness and its
// malloc interposer never become dependencies of the server itself.
//
// Run from this directory:  swift package benchmark   (see README.md)
// Layout (ordo-one/benchmark conventions): every executable target whose sources live in
// `Benchmarks/<Name>/` and that uses `BenchmarkPlugin` is a benchmark suite; static thresholds
// live in `Thresholds/<Name>.<benchmark>.p90.json`.
import PackageDescription

let package = Package(
    name: "DoozerBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Doozer", path: ".."),
        // Only the MallocInterposer trait: allocation counts without jemalloc. (The default
        // traits would also pull ordo-one/swift-runtime-interposer for ARC counts on 6.3.)
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // What every suite shares: an in-process node and a non-allocating blocking client.
        .target(
            name: "DoozerBenchmarkSupport",
            dependencies: [
                .product(name: "DoozerServer", package: "Doozer"),
                .product(name: "DoozerStartup", package: "Doozer"),
                .product(name: "DoozerWire", package: "Doozer"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The load generator (doozer-bench): one epoll loop, any doozer server. See BENCHMARKS.md.
        .executableTarget(
            name: "doozer-bench",
            dependencies: [
                .product(name: "DoozerSystem", package: "Doozer"),
                .product(name: "DoozerReactor", package: "Doozer"),
                .product(name: "DoozerWire", package: "Doozer"),
                // cluster and catchup form the cluster with it (blocking calls, outside the loop)
                .product(name: "DoozerClient", package: "Doozer"),
                .product(name: "DoozerTLS", package: "Doozer"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
    ]
)

let benchmarkSuites = [
    // GET/REV/STAT round trips against an in-process server: allocations per request.
    "ServerRequests",
    // RequestView decode, ResponseFields encode, Framing.scan: allocations per operation (0).
    "Codec",
    // Store.apply, snapshot(at:), Glob.matches, WAIT fan-out, lookup: allocations per operation.
    "Store",
    // LZ4 compress/decompress of a ~1 MB snapshot-like blob.
    "Compression",
    // Three consensus members in one process: allocations per decided instance.
    "Consensus",
]

for name in benchmarkSuites {
    package.targets.append(
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "DoozerBenchmarkSupport",
                .product(name: "DoozerWire", package: "Doozer"),
                .product(name: "DoozerStore", package: "Doozer"),
                .product(name: "DoozerSystem", package: "Doozer"),
                .product(name: "DoozerConsensus", package: "Doozer"),
            ],
            path: "Benchmarks/\(name)",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]))
}
