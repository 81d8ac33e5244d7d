// The client's read contract against a real durable cluster (127.0.91.x): after a failover to
// a member that lags — restarted from its own -data while the rest of the cluster is down or
// frozen, so it cannot catch up — the library's plain reads and REV refuse its older state
// (`.behind`) instead of going backwards, a linearizable read through it waits for a majority,
// and once the cluster is back every read shows the acknowledged write.

import DoozerClient
import Foundation
import XCTest

extension ClusterScenarioTests {
    func testReadContractAcrossAFailoverToAMemberThatLags() throws {
        useCluster("127.0.91")
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("read-contract-\(getpid())-\(UInt64.random(in: 1...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let flags = ["-pulse", "0.2", "-timeout", "60"]
        func arguments(_ n: Int, attachTo seed: ClusterNode?) -> [String] {
            flags + ["-data", "\(base)/node\(n)"] + (seed.map { ["-a", $0.address] } ?? [])
        }

        // Scenario 1's formation; the spare slave is not needed (and must not feed the lagging member).
        let seed = try cluster.start("R1", host: cluster.host(1), arguments: arguments(1, attachTo: nil), readiness: .writable)
        var slaves: [ClusterNode] = []
        for n in 2...4 {
            slaves.append(try cluster.start("R\(n)", host: cluster.host(n), arguments: arguments(n, attachTo: seed),
                                            readiness: .answering))
        }
        let activated = try activateTwoSlots(seed: seed, candidates: slaves, environment: ["DOOZER_URI": seed.uri])
        _ = cluster.kill(activated.slave)

        // K knows the two activated members; X is the one it is connected to, Y the other.
        let (m1, m2) = (activated.members[0], activated.members[1])
        let client = try DoozerClient(uri: "doozer:?ca=\(m1.address)&ca=\(m2.address)", timeout: .seconds(2))
        defer { client.close() }
        let (x, y) = client.currentAddress == m1.address ? (m1, m2) : (m2, m1)
        let yArguments = arguments(Int(y.host.split(separator: ".").last!)!, attachTo: seed)
        let path = "/readcontract/file"
        _ = try client.set(path, rev: -1, body: bytes("v1"))

        // Y goes down; v2 is acknowledged by the seed and X; then X dies and the seed freezes.
        _ = cluster.kill(y)
        let written = try client.set(path, rev: -1, body: bytes("v2"))
        let seen = try client.rev()
        XCTAssertGreaterThanOrEqual(seen, written)
        _ = cluster.kill(x)
        cluster.suspend(seed)

        // Y comes back from its own data directory, alone: it has not applied v2 and cannot.
        let back = try cluster.start(y.label, host: y.host, arguments: yArguments, readiness: .answering, timeout: 20)
        let lagging = try back.connect().rev()
        XCTAssertLessThan(lagging, written, "precondition: \(back.name) lags\n\(cluster.report())")

        // A linearizable read through Y: its NOP needs a majority, so it waits.
        let linearizable = try DoozerClient(uri: back.uri, timeout: .seconds(2))
        defer { linearizable.close() }
        let linearRead = ClientLocked<Result<[UInt8], DoozerError>?>(nil)
        let linearDone = DispatchSemaphore(value: 0)
        Thread {
            do throws(DoozerError) {
                let body = try linearizable.get(path, consistency: .linearizable).body
                linearRead.update { $0 = .success(body) }
            } catch {
                linearRead.update { $0 = .failure(error) }
            }
            linearDone.signal()
        }.start()

        // K fails over to Y: no read of Y's older state, no REV below what K has seen.
        assertClientError(.behind(rev: seen), "GET through the lagging \(back.name)") { try client.get(path).body }
        assertClientError(.behind(rev: seen), "REV through the lagging \(back.name)") { try client.rev() }

        // The seed thaws: Y catches up, and every read shows v2.
        cluster.resume(seed)
        _ = try cluster.read(path, on: back, rev: seen, timeout: 15)   // parks until Y applied `seen`
        XCTAssertEqual(try client.get(path).body, bytes("v2"), "K reads its acknowledged write through \(back.name)")
        XCTAssertGreaterThanOrEqual(try client.rev(), seen, "REV did not go backwards")
        XCTAssertEqual(linearDone.wait(timeout: .now() + 15), .success, "the linearizable read ends once Y has a majority")
        XCTAssertEqual(linearRead.get(), .success(bytes("v2")), "the linearizable read includes v2\n\(cluster.report())")
    }
}
