import Foundation
import XCTest

/// `/health` and `/ready` on a real two-member cluster: both ready once formed; a member whose
/// partner stops (so it has no majority) stays healthy but is not ready, with the reason, and
/// is ready again once the partner is back.
final class ReadinessClusterTests: ClusterTestCase {
    private func probe(_ node: ClusterNode, _ target: String) throws -> HTTPReply {
        try WebClient.get(host: node.host, port: 8000, target)
    }

    /// Polls `/ready` on `node` (bounded) until it answers `status`; returns that answer.
    @discardableResult
    private func awaitReady(_ node: ClusterNode, _ status: Int, within seconds: Double, _ what: String) throws -> HTTPReply {
        let deadline = now() + seconds
        var last: HTTPReply?
        while now() < deadline {
            let reply = try probe(node, "/ready")
            if reply.status == status { return reply }
            last = reply
            pause(0.05)
        }
        throw cluster.failure("\(what): /ready on \(node.name) did not answer \(status) within \(seconds)s; last: \(last.map(\.description) ?? "none")")
    }

    func testAMemberWithoutAMajorityIsHealthyButNotReady() throws {
        let cluster = useCluster("127.0.86")
        let flags = ["-pulse", "0.2", "-timeout", "60"]
        let seed = try cluster.start("R1", host: cluster.host(1), arguments: flags, readiness: .writable)
        let partner = try cluster.start("R2", host: cluster.host(2), arguments: flags + ["-a", seed.address])
        let promoted = try cluster.doozer(["set", "/ctl/cal/1", "0"], stdin: "", environment: ["DOOZER_URI": "doozer:?ca=\(seed.address)"])
        XCTAssertEqual(promoted.status, 0, promoted.summary)
        try cluster.waitReady(partner, .writable, timeout: 15)

        for node in [seed, partner] {
            let ready = try awaitReady(node, 200, within: 10, "a formed cluster")
            XCTAssertEqual(ready.contentType, "application/json; charset=utf-8")
            XCTAssertTrue(ready.text.hasPrefix(#"{"ready":true,"role":""#), ready.text)
            XCTAssertTrue(ready.text.contains(#""in_contact":true"#), ready.text)
        }

        cluster.suspend(partner)
        let cutOff = try awaitReady(seed, 503, within: 10, "the seed without its partner")
        XCTAssertTrue(cutOff.text.contains(#""ready":false"#), cutOff.text)
        XCTAssertTrue(cutOff.text.contains(#""reason":"no contact with a majority of the cluster""#), cutOff.text)
        let health = try probe(seed, "/health")
        XCTAssertEqual(health.status, 200, "it still serves: \(health)")
        XCTAssertTrue(health.text.hasPrefix(#"{"status":"serving","rev":"#), health.text)

        cluster.resume(partner)
        try awaitReady(seed, 200, within: 10, "the seed with its partner back")
        try awaitReady(partner, 200, within: 10, "the partner after its pause")
    }
}
