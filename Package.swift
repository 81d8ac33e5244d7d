// swift-tools-version:6.1
// Doozer for Swift: a replicated, strongly consistent store for small, critical data,
// wire-compatible with the original doozerd.
import PackageDescription

// The server and the store run on one thread. Debug builds, which the tests use, check
// exclusive access at run time; release builds of these two leave it to those tests and the
// compiler's static checks, since the run-time check costs a thread-local lookup on every
// mutation of a class's stored property (about a tenth of the server's time on the WAIT path).
// The flag keeps these two products from being depended on by version; DoozerClient and the
// modules under it carry no unsafe flags.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Doozer",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "doozerd", targets: ["doozerd"]),
        .library(name: "DoozerSystem", targets: ["DoozerSystem"]),
        .library(name: "DoozerReactor", targets: ["DoozerReactor"]),
        .library(name: "DoozerTLS", targets: ["DoozerTLS"]),
        .library(name: "DoozerServer", targets: ["DoozerServer"]),
        .library(name: "DoozerStartup", targets: ["DoozerStartup"]),
        .library(name: "DoozerWire", targets: ["DoozerWire"]),
        .library(name: "DoozerStore", targets: ["DoozerStore"]),
        .library(name: "DoozerConsensus", targets: ["DoozerConsensus"]),
        .library(name: "DoozerPeer", targets: ["DoozerPeer"]),
        .library(name: "DoozerClient", targets: ["DoozerClient"]),
        .library(name: "DoozerSnapshot", targets: ["DoozerSnapshot"]),
        .library(name: "DoozerLog", targets: ["DoozerLog"]),
        .executable(name: "doozer", targets: ["doozer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The only C in the project: thin syscall wrappers and the system liblz4.
        .target(name: "CShims", path: "CShims/CShims"),
        // OpenSSL 3 (the system's libssl) for DoozerTLS: the calls Swift cannot import, a socket BIO.
        .target(
            name: "CTLS", path: "CShims/CTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .systemLibrary(
            name: "CLZ4", path: "CShims/CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]),

        // bytes in: typed descriptors, errno, sockets, epoll, lz4.
        .target(name: "DoozerSystem", dependencies: ["CShims", "CLZ4"]),
        // TLS sessions over sockets, blocking or not: contexts, handshakes, records (OpenSSL 3).
        .target(name: "DoozerTLS", dependencies: ["CTLS", "DoozerSystem"]),
        // one-thread event loop: epoll, timers, byte buffers, connections (plain or TLS).
        .target(name: "DoozerReactor", dependencies: ["DoozerSystem", "DoozerTLS"]),
        // frames and the protobuf Request/Response codec.
        .target(name: "DoozerWire"),
        // the versioned tree: pure state machine, no I/O, no clocks.
        .target(name: "DoozerStore", swiftSettings: hotPath),
        // the store at one revision as a checksummed, lz4-compressed, chunked byte stream.
        .target(name: "DoozerSnapshot", dependencies: ["DoozerStore", "DoozerSystem"]),
        // the durable record log: segment files, group commit on a syncing thread, recovery.
        .target(name: "DoozerLog", dependencies: ["DoozerSystem"]),
        // Multi-Paxos over batches of writes: pure state machine, no I/O, no clocks.
        .target(name: "DoozerConsensus", dependencies: ["DoozerStore"]),
        // consensus messages between the nodes of one cluster over UDP: checked, coalesced, fragmented.
        .target(name: "DoozerPeer", dependencies: ["DoozerReactor", "DoozerSystem", "DoozerConsensus", "DoozerTLS"]),
        // Go-style command-line flags shared by doozerd and doozer.
        .target(name: "DoozerFlags"),
        // the web view's pure parts: HTTP requests, routes, pages, event stream encoding.
        .target(name: "DoozerWeb", dependencies: ["DoozerStore", "DoozerSystem"]),
        // a durable node's disk: its log of decided batches and consensus state, snapshots, recovery.
        .target(
            name: "DoozerDurability",
            dependencies: [
                "DoozerLog", "DoozerSnapshot", "DoozerConsensus", "DoozerStore", "DoozerSystem",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // the node core: consensus, its outbox, transport and log driven for one host (server or simulation).
        .target(
            name: "DoozerNode",
            dependencies: [
                "DoozerConsensus", "DoozerStore", "DoozerPeer", "DoozerDurability", "DoozerLog", "DoozerSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath),
        // start-up: configuration and flags, attaching to a cluster, booting through a DzNS.
        .target(
            name: "DoozerStartup",
            dependencies: [
                "DoozerClient", "DoozerConsensus", "DoozerDurability", "DoozerFlags", "DoozerSnapshot", "DoozerStore",
                "DoozerSystem", "DoozerTLS", "DoozerWire", .product(name: "Logging", package: "swift-log"),
            ]),
        // the client port (sessions, verbs, access control), the web view's glue, the seed's layout, pulse.
        .target(
            name: "DoozerServer",
            dependencies: [
                "DoozerReactor", "DoozerWire", "DoozerStore", "DoozerWeb", "DoozerConsensus", "DoozerSnapshot",
                "DoozerPeer", "DoozerLog", "DoozerNode", "DoozerDurability", "DoozerStartup",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath),
        // the client library: doozer: URIs, tagged multiplexing, reconnection, watches.
        .target(name: "DoozerClient", dependencies: ["DoozerWire", "DoozerSystem", "DoozerTLS"]),
        .executableTarget(name: "doozer", dependencies: ["DoozerClient", "DoozerFlags", "DoozerWire", "DoozerSnapshot"]),
        // one fuzz entry point per decoder: libFuzzer drives them (scripts/fuzz), DoozerFuzzTests replays their corpora.
        .target(
            name: "DoozerFuzz",
            dependencies: ["DoozerWire", "DoozerStore", "DoozerWeb", "DoozerSnapshot", "DoozerSystem", "DoozerConsensus", "DoozerPeer", "DoozerTLS"]),
        .executableTarget(
            name: "doozerd",
            dependencies: ["DoozerServer", "DoozerStartup", "DoozerSystem", .product(name: "Logging", package: "swift-log")]),

        // what several test targets share: the seeded generator and its draws.
        .target(name: "DoozerTestSupport", dependencies: ["DoozerConsensus"], path: "Tests/DoozerTestSupport"),
        // client histories (invoke, complete, answer) checked for linearizability and doozer's
        // revision rules: no dependencies, for the simulation and the real-process suites alike.
        .target(name: "DoozerHistory", path: "Tests/DoozerHistory"),
        .testTarget(name: "DoozerSystemTests", dependencies: ["DoozerSystem", "DoozerReactor", "DoozerTestSupport"]),
        .testTarget(name: "DoozerWireTests", dependencies: ["DoozerWire", "DoozerTestSupport"], exclude: ["crosscheck.py"]),
        .testTarget(name: "DoozerStoreTests", dependencies: ["DoozerStore", "DoozerTestSupport"]),
        .testTarget(name: "DoozerSnapshotTests", dependencies: ["DoozerSnapshot", "DoozerStore", "DoozerSystem", "DoozerTestSupport"]),
        .testTarget(name: "DoozerLogTests", dependencies: ["DoozerLog", "DoozerSystem", "DoozerTestSupport"]),
        .testTarget(name: "DoozerConsensusTests", dependencies: ["DoozerConsensus", "DoozerStore"]),
        .testTarget(
            name: "DoozerServerTests",
            dependencies: [
                "DoozerServer", "DoozerFlags", "DoozerWire", "DoozerStore", "DoozerSystem", "DoozerConsensus",
                "DoozerLog", "DoozerNode", "DoozerDurability", "DoozerStartup", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "DoozerPeerTests", dependencies: ["DoozerPeer", "DoozerConsensus", "DoozerSystem", "DoozerTLS"]),
        .testTarget(name: "DoozerClientTests", dependencies: ["DoozerClient", "DoozerWire"]),
        .testTarget(name: "DoozerWebTests", dependencies: ["DoozerWeb", "DoozerStore", "DoozerTestSupport"]),
        .testTarget(name: "DoozerFuzzTests", dependencies: ["DoozerFuzz"]),
        .testTarget(
            name: "DoozerSimulationTests",
            dependencies: [
                "DoozerNode", "DoozerDurability", "DoozerConsensus", "DoozerStore", "DoozerPeer", "DoozerLog",
                "DoozerSystem", "DoozerHistory", "DoozerTestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "DoozerHistoryTests", dependencies: ["DoozerHistory", "DoozerStore", "DoozerTestSupport"]),
        .testTarget(
            name: "DoozerdTests",
            dependencies: ["doozerd", "doozer", "DoozerWire", "DoozerClient", "DoozerTestSupport", "DoozerPeer", "DoozerConsensus", "DoozerSystem", "DoozerTLS"]),
        // real doozerd processes under partitions, packet loss, pauses and crashes, in a network namespace of their own.
        .testTarget(
            name: "DoozerFaultTests",
            dependencies: ["doozerd", "DoozerClient", "DoozerWire", "DoozerSystem", "DoozerHistory", "DoozerTestSupport"]),
    ]
)

// The libFuzzer driver: built only by scripts/fuzz (DOOZER_FUZZ=1, with -sanitize=fuzzer,address
// in a scratch folder of its own), so ordinary builds never need the fuzzer runtime.
if Context.environment["DOOZER_FUZZ"] == "1" {
    package.products.append(.executable(name: "doozer-fuzz", targets: ["doozer-fuzz"]))
    package.targets += [
        .systemLibrary(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"),
        // lld: gold stops with an internal error on this link (libFuzzer's `main` next to the driver's).
        .executableTarget(
            name: "doozer-fuzz", dependencies: ["DoozerFuzz", "CLibFuzzer"], path: "Fuzz/Driver",
            linkerSettings: [.unsafeFlags(["-use-ld=lld"])]),
    ]
}
