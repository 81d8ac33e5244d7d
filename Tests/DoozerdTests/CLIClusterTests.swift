// §12.13 CLI items that need their own servers: a fresh node's find listing (§8.4), secrets
// (#127) and cluster-name lookup through a DzNS (#128, B20).

import DoozerWire
import XCTest

final class CLIClusterTests: CLITestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    /// §8.4: the observed listing of a fresh single node, with its real id; then find -l at one rev.
    func testFindOnAFreshNode() throws {
        let node = try startServer(DoozerdProcess.Config())
        let id = node.nodeID
        let paths = [
            "/", "/ctl", "/ctl/cal", "/ctl/cal/0", "/ctl/name", "/ctl/node", "/ctl/node/\(id)",
            "/ctl/node/\(id)/addr", "/ctl/node/\(id)/applied", "/ctl/node/\(id)/hostname",
            "/ctl/node/\(id)/version", "/ctl/node/\(id)/writable", "/ctl/ns", "/ctl/ns/local", "/ctl/ns/local/\(id)",
        ]
        let find = try runDoozerCLI(["-a", node.uri, "find", "/"])
        assertCLI(find, status: 0, stdout: paths.map { $0 + "\n" }.joined(), "§8.4 find / on a fresh node")

        // The long listing at a fixed rev (pulses keep writing `applied`), checked against STAT.
        let connection = try connect(to: node)
        let rev = try connection.rev()
        var expected = ""
        for path in paths {
            let stat = try connection.stat(path, rev: rev)
            guard let fileRev = stat.rev, let len = stat.len else {
                XCTFail("STAT \(path) at \(rev): \(stat.brief)")
                return
            }
            expected += fileRev == -2 ? "d \(len) \(path)\n" : "\(fileRev) \(len) \(path)\n"
        }
        XCTAssertTrue(expected.hasPrefix("d 1 /\nd 5 /ctl\n") || expected.hasPrefix("d 1 /\nd 4 /ctl\n"),
                      "sanity: \(expected)")
        XCTAssertTrue(expected.contains("\n1 5 /ctl/name\n"), "sanity: /ctl/name at rev 1: \(expected)")
        assertCLI(try runDoozerCLI(["-a", node.uri, "find", "-l", "-r", "\(rev)", "/"]), status: 0, stdout: expected,
                  "find -l -r on a fresh node")
        assertCLI(try runDoozerCLI(["-a", node.uri, "-r", "\(rev)", "find", "/ctl/ns"]), status: 0,
                  stdout: "/ctl/ns\n/ctl/ns/local\n/ctl/ns/local/\(id)\n", "find -r of a subtree")
    }

    /// #127: a wrong sk is refused; the right ones grant their rights; no sk gets none.
    func testSecretKey() throws {
        let node = try startServer(DoozerdProcess.Config(environment: ["DOOZER_RWSECRET": "s3cret", "DOOZER_ROSECRET": "r0"]))
        let rw = "doozer:?ca=\(node.address)&sk=s3cret"
        let ro = "doozer:?ca=\(node.address)&sk=r0"
        let denied = "Error: OTHER: permission denied\n"
        assertCLI(try runDoozerCLI(["-a", "doozer:?ca=\(node.address)&sk=wrong", "rev"]), status: 2, stdout: "",
                  stderr: denied, "#127 wrong sk")
        assertCLI(try runDoozerCLI(["-a", rw, "get", "/ctl/name"]), status: 0, stdout: "local", "#127 the RW sk reads")
        assertCLI(try runDoozerCLI(["-a", "doozer:?ca=\(node.address)&sk=s%33cret", "get", "/ctl/name"]), status: 0,
                  stdout: "local", "sk is percent-decoded")
        assertCLI(try runDoozerCLI(["-a", node.uri, "get", "/ctl/name"]), status: 2, stdout: "", stderr: denied,
                  "no sk: no read access")
        assertCLI(try runDoozerCLI(["-a", ro, "get", "/ctl/name"]), status: 0, stdout: "local", "the RO sk reads")
        assertCLI(try runDoozerCLI(["-a", ro, "set", "/cli/secret", "-1"], stdin: bytes("no")), status: 2, stdout: "",
                  stderr: denied, "the RO sk cannot write")
        let set = try runDoozerCLI(["-a", rw, "set", "/cli/secret", "-1"], stdin: bytes("ok"))
        XCTAssertNotNil(printedRev(set, "write with the RW sk"))
        assertCLI(try runDoozerCLI(["-a", rw, "get", "/cli/secret"]), status: 0, stdout: "ok", "written")
    }

    /// #128 (B20): -b names a DzNS; cn= is looked up in its /ctl/ns/<cn>.
    func testBootURI() throws {
        let dzns = try startServer(DoozerdProcess.Config())
        assertCLI(try runDoozerCLI(["-b", dzns.uri, "-a", "doozer:?cn=unknown", "rev"]), status: 2, stdout: "",
                  stderr: "Error: no known address\n", "#128 unknown cluster name")
        assertCLI(try runDoozerCLI(["-a", "doozer:?cn=unknown", "rev"], environment: ["DOOZER_BOOT_URI": dzns.uri]),
                  status: 2, stdout: "", stderr: "Error: no known address\n", "#128 via DOOZER_BOOT_URI")
        // The DzNS lists itself under its own cluster name `local`.
        assertCLI(try runDoozerCLI(["-b", dzns.uri, "-a", "doozer:?cn=local", "self"]), status: 0,
                  stdout: dzns.nodeID, "§9.2 cn=local resolves to the DzNS node itself")
        // Another cluster registered in the DzNS by hand.
        let target = try startServer(DoozerdProcess.Config())
        try connect(to: dzns).mustSet("/ctl/ns/other/\(target.nodeID)", target.address)
        assertCLI(try runDoozerCLI(["self", "-a", "doozer:?cn=other", "-b", dzns.uri]), status: 0,
                  stdout: target.nodeID, "§9.2 cn=other resolves through the DzNS")
        assertCLI(try runDoozerCLI(["-a", "doozer:?cn=other", "self"], environment: ["DOOZER_BOOT_URI": dzns.uri]),
                  status: 0, stdout: target.nodeID, "§8.2 DOOZER_BOOT_URI")
        let bad = try runDoozerCLI(["-b", "doozer:?ca=127.0.0.1:1", "-a", "doozer:?cn=other", "self"])
        XCTAssertEqual(bad.status, 2, "unreachable DzNS; \(bad.summary)")
        XCTAssertTrue(bad.err.hasPrefix("Error: ") && bad.err.hasSuffix("\n"), "unreachable DzNS; \(bad.summary)")
    }
}
