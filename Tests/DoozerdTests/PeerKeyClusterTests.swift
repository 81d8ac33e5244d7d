import DoozerConsensus
@_spi(Fuzzing) import DoozerPeer
import DoozerSystem
import Foundation
import XCTest

/// `-peerkey` on real processes: a cluster whose nodes share a key forms and replicates (its
/// datagrams and stream records sealed), a forged datagram is refused and counted, and a node
/// with another key is heard by nobody.
final class PeerKeyClusterTests: ClusterTestCase {
    private func keyFile(_ name: String, _ byte: UInt8) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-peerkey-\(getpid())-\(name)").path
        let hex = String(repeating: String(format: "%02x", byte), count: 32)
        try "# doozer test key\n\(hex)\n".write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The counters a node's shutdown line reported, by name.
    private func shutdownCounters(_ node: ClusterNode) -> [String: Int] {
        _ = cluster.terminate(node)
        var counters: [String: Int] = [:]
        for line in node.process.stderrTail(100_000).split(separator: "\n") where line.contains("peer traffic:") {
            for field in line.split(separator: " ") {
                let parts = field.split(separator: "=")
                if parts.count == 2, let value = Int(parts[1]) { counters[String(parts[0])] = value }
            }
        }
        return counters
    }

    func testAKeyedClusterReplicatesAndRefusesForgedAndForeignDatagrams() throws {
        let cluster = useCluster("127.0.85")
        let flags = ["-pulse", "0.2", "-timeout", "60", "-peerkey", try keyFile("a", 0xA5)]
        let seed = try cluster.start("K1", host: cluster.host(1), arguments: flags, readiness: .writable)
        let second = try cluster.start("K2", host: cluster.host(2), arguments: flags + ["-a", seed.address])
        let made = try cluster.doozer(["set", "/ctl/cal/1", "0"], stdin: "", environment: ["DOOZER_URI": "doozer:?ca=\(seed.address)"])
        XCTAssertEqual(made.status, 0, made.summary)
        try cluster.waitReady(second, .writable, timeout: 15)
        // A write through the new member, small and large (the large one on a sealed stream).
        let connection = try second.connect()
        defer { connection.close() }
        let small = try connection.set("/keyed/small", "sealed", rev: -1)
        XCTAssertNil(small.error, small.brief)
        let large = String(repeating: "x", count: 300_000)
        let written = try connection.set("/keyed/large", large, rev: -1)
        XCTAssertNil(written.error, written.brief)
        XCTAssertEqual(try cluster.read("/keyed/small", on: seed, rev: written.rev ?? 0).body, "sealed")
        XCTAssertEqual(try cluster.read("/keyed/large", on: seed, rev: written.rev ?? 0).body, large)

        // A datagram that looks like the second node's, sealed without the key.
        let header = PeerDatagram.Header(cluster: PeerID(nodeID: "local".utf8).raw, sender: PeerID(nodeID: second.id.utf8),
                                         keyed: true).bytes
        let forged = header + [0, 0, 0, 1, 3] + [UInt8](repeating: 0x42, count: PeerDatagram.trailerSize)
        let socket = try Socket.bindUDP(try SocketAddress.resolve("\(cluster.host(9)):0"), receiveBuffer: 1 << 16, sendBuffer: 1 << 16)
        defer { socket.close() }
        let target = try SocketAddress.resolve(seed.address)
        let sent = forged.withUnsafeBytes { bytes in target.withSockaddr { sendto(socket.rawValue, bytes.baseAddress, bytes.count, 0, $0, $1) } }
        XCTAssertEqual(sent, forged.count)

        // A node with another key attaches over TCP, but nothing it sends over UDP is heard.
        let foreign = try cluster.start("K3", host: cluster.host(3), arguments: ["-pulse", "0.2", "-peerkey", try keyFile("b", 0x3C),
                                                                                 "-a", seed.address])
        let probe = try connection.set("/keyed/after", "1", rev: -1)   // traffic the foreign node should have heard
        XCTAssertNil(probe.error, probe.brief)
        // It stays where its copy left it: for a second and a half of pulses (every 0.2 s, each
        // a decided write sent to it), nothing it receives passes its key.
        let watching = try foreign.connect()
        defer { watching.close() }
        let until = now() + 1.5
        while now() < until {
            XCTAssertLessThan(try watching.rev(), probe.rev ?? 0, "the foreign node applied what it could not authenticate")
            pause(0.1)
        }
        let foreignCounters = shutdownCounters(foreign)
        XCTAssertEqual(foreignCounters["messages_received"], 0, "the foreign node took no message: \(foreignCounters)")
        XCTAssertGreaterThan(foreignCounters["messages_sent"] ?? 0, 0, "it did ask: \(foreignCounters)")
        let seedCounters = shutdownCounters(seed)
        XCTAssertGreaterThan(seedCounters["bad_mac"] ?? 0, 1, "the forged datagram and the foreign node's refused: \(seedCounters)")
        XCTAssertEqual(seedCounters["unsealed"], 0)
        XCTAssertEqual(seedCounters["replayed"], 0)
        XCTAssertGreaterThan(seedCounters["records_received", default: 0] + shutdownCounters(second)["records_received", default: 0], 0,
                             "the large write went on a sealed stream")
    }
}
