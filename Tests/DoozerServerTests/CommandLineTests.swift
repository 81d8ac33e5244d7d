import DoozerFlags
@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import XCTest

final class FlagSetTests: XCTestCase {
    private func parse(_ arguments: [String]) throws -> FlagSet {
        var flags = FlagSet()
        flags.define("l", .string, usage: "")
        flags.define("a", .repeated, usage: "")
        flags.define("v", .boolean, usage: "")
        try flags.parse(arguments)
        return flags
    }

    func testGoStyleForms() throws {
        let flags = try parse(["-l", "x:1", "--a=p", "-a", "q", "-v"])
        XCTAssertEqual(flags.value("l"), "x:1")
        XCTAssertEqual(flags.all("a"), ["p", "q"])
        XCTAssertTrue(flags.flag("v"))
        XCTAssertFalse(try parse(["-v=false"]).flag("v"))
        XCTAssertEqual(try parse(["-l=a=b"]).value("l"), "a=b")
    }

    func testErrors() {
        XCTAssertThrowsError(try parse(["-nope"]))
        XCTAssertThrowsError(try parse(["-l"]))
        XCTAssertThrowsError(try parse(["-v=maybe"]))
    }

    func testHelpAndPositional() throws {
        XCTAssertTrue(try parse(["-h"]).helpRequested)
        XCTAssertTrue(try parse(["--help"]).helpRequested)
        XCTAssertEqual(try parse(["-v", "rest", "-l"]).positional, ["rest", "-l"])
    }
}

final class DoozerdCommandLineTests: XCTestCase {
    private func configuration(_ arguments: [String], environment: [String: String] = [:]) throws -> Configuration {
        let invocation = try DoozerdCommandLine.parse(arguments, environment: environment)
        guard case .run(let configuration) = invocation else {
            // A parse regression is a failure, never a skip.
            throw UnexpectedInvocation(arguments: arguments, invocation: invocation)
        }
        return configuration
    }

    private func usageError(_ arguments: [String], environment: [String: String] = [:]) -> UsageError? {
        do {
            _ = try DoozerdCommandLine.parse(arguments, environment: environment)
            return nil
        } catch {
            return error
        }
    }

    func testDefaults() throws {
        let c = try configuration([])
        XCTAssertEqual(c.listenAddress.description, "127.0.0.1:8046")
        XCTAssertEqual(c.webAddress?.description, "127.0.0.1:8000")
        XCTAssertEqual(c.clusterName, "local")
        XCTAssertEqual(c.history, 2000)
        XCTAssertEqual(c.pulseInterval, 1_000_000_000)
        XCTAssertEqual(c.fillDelay, 100_000_000)
        XCTAssertEqual(c.memberTimeout, 60_000_000_000)
        XCTAssertEqual(c.maxFrame, 16 << 20)
        XCTAssertEqual(c.maxConnections, 16_384)
        XCTAssertEqual(c.maxWaits, 10_000)
    }

    func testValues() throws {
        let c = try configuration(["-l", "localhost:9000", "-c", "prod-1.x", "-hist", "5", "-pulse", "0.5",
                                   "-w", "false", "-maxframe", "1024", "-maxconns", "7", "-maxwaits", "3"],
                                  environment: ["DOOZER_RWSECRET": "rw", "DOOZER_ROSECRET": "ro"])
        XCTAssertEqual(c.listenAddress.description, "127.0.0.1:9000")
        XCTAssertEqual(c.clusterName, "prod-1.x")
        XCTAssertEqual(c.history, 5)
        XCTAssertEqual(c.pulseInterval, 500_000_000)
        XCTAssertNil(c.webAddress)
        XCTAssertEqual(c.maxFrame, 1024)
        XCTAssertEqual(c.maxConnections, 7)
        XCTAssertEqual(c.maxWaits, 3)
        XCTAssertEqual(c.readWriteSecret, Array("rw".utf8))
        XCTAssertEqual(c.readOnlySecret, Array("ro".utf8))
    }

    func testWebLimits() throws {
        let defaults = try configuration([])
        XCTAssertEqual(defaults.webMaxConnections, 256)
        XCTAssertEqual(defaults.webMaxPerClient, 32)
        XCTAssertEqual(defaults.webHeadTimeout, 5_000_000_000)
        let c = try configuration(["-webconns", "10", "-webperclient", "2", "-webheadtimeout", "0.5"])
        XCTAssertEqual(c.webMaxConnections, 10)
        XCTAssertEqual(c.webMaxPerClient, 2)
        XCTAssertEqual(c.webHeadTimeout, 500_000_000)
        XCTAssertEqual(usageError(["-webconns", "0"])?.status, 2)
        XCTAssertEqual(usageError(["-webperclient", "x"])?.status, 2)
        XCTAssertEqual(usageError(["-webheadtimeout", "0"])?.status, 2)
    }

    func testVersionAndHelp() throws {
        guard case .printVersion = try DoozerdCommandLine.parse(["-v"], environment: [:]) else { return XCTFail() }
        guard case .printUsage = try DoozerdCommandLine.parse(["-h"], environment: [:]) else { return XCTFail() }
        let usage = DoozerdCommandLine.usage(programName: "doozerd")
        XCTAssertTrue(usage.hasPrefix("Usage: doozerd [OPTIONS]\n\nOptions:\n"))
        for flag in ["-l", "-a", "-b", "-c", "-w", "-v", "-pulse", "-fill", "-timeout", "-hist", "-tlscert", "-tlskey", "-maxframe",
                     "-maxconns", "-maxwaits", "-webconns", "-webperclient", "-webheadtimeout"] {
            XCTAssertTrue(usage.contains("  \(flag) ") || usage.contains("  \(flag)\n"), flag)
        }
    }

    func testBadValuesAreUsageErrors() {
        XCTAssertEqual(usageError(["-nope"])?.status, 2)
        XCTAssertEqual(usageError(["-hist", "0"])?.status, 2)
        XCTAssertEqual(usageError(["-pulse", "-1"])?.status, 2)
        XCTAssertEqual(usageError(["-pulse", "abc"])?.status, 2)
        XCTAssertEqual(usageError(["-pulse", "1e-10"])?.status, 2, "a zero-length timer would spin the loop")
        XCTAssertEqual(usageError(["-maxframe", "4294967296"])?.status, 2)
        XCTAssertEqual(usageError(["-maxconns", "0"])?.status, 2)
        XCTAssertEqual(usageError(["-maxwaits", "-1"])?.status, 2)
        XCTAssertEqual(usageError(["extra"])?.status, 2)
    }

    func testStoreLimitFlags() throws {
        let defaults = try configuration([])
        XCTAssertEqual(defaults.maxPath, 4096)
        XCTAssertEqual(defaults.maxGlob, 4096)
        XCTAssertEqual(defaults.historyBytes, 256 << 20)
        let c = try configuration(["-maxpath", "100000", "-maxglob=64", "-histbytes", "0"])
        XCTAssertEqual(c.maxPath, 100_000)
        XCTAssertEqual(c.maxGlob, 64)
        XCTAssertEqual(c.historyBytes, 0)
        let usage = DoozerdCommandLine.usage(programName: "doozerd")
        for flag in ["-maxpath", "-maxglob", "-histbytes"] { XCTAssertTrue(usage.contains("  \(flag) "), flag) }
        for bad in [["-maxpath", "63"], ["-maxglob", "x"], ["-histbytes", "-1"], ["-maxpath", "2000000000"]] {
            XCTAssertEqual(usageError(bad)?.status, 2, "\(bad)")
        }
    }

    func testInvalidSettingsFailClearly() {
        // B16: the cluster name must be a path component.
        XCTAssertNotNil(usageError(["-c", ""]))
        XCTAssertNotNil(usageError(["-c", "bad name"]))
        XCTAssertNotNil(usageError(["-c", "a/b"]))
        XCTAssertEqual(usageError(["-l", ""])?.description, "require a listen address")
        XCTAssertNotNil(usageError(["-l", "nohostport"]))
        // §6.4: -tlscert and -tlskey go together (status 2); -tlsclientca needs them.
        XCTAssertEqual(usageError(["-tlscert", "c.pem"])?.description, "need both cert file and key file (-tlscert and -tlskey)")
        XCTAssertEqual(usageError(["-tlskey", "k.pem"])?.status, 2)
        XCTAssertEqual(usageError(["-tlsclientca", "ca.pem"])?.status, 2)
        // B17: only `false` turns the web view off; any other value must be an address.
        XCTAssertEqual(usageError(["-w", "true"])?.status, 1)
        XCTAssertEqual(usageError(["-w", "nohostport"])?.status, 1)
    }

    func testDataDirectoryGoesWithEveryWayToStart() throws {
        XCTAssertNil(try configuration([]).dataPath, "memory-only by default")
        XCTAssertEqual(try configuration(["-data", "node1"]).dataPath, "node1")
        XCTAssertEqual(usageError(["-data", ""])?.status, 2)
        // A durable slave (-a) or a node booted through a DzNS (-b) keeps its state too.
        XCTAssertEqual(try configuration(["-data", "node1", "-a", "127.0.0.1:8046"]).dataPath, "node1")
        XCTAssertEqual(try configuration(["-data", "node1", "-b", "doozer:?ca=127.0.0.1:8046"]).dataPath, "node1")
        // -restore seeds a new data directory.
        let restoring = try configuration(["-data", "node1", "-restore", "backup.dzsnap"])
        XCTAssertEqual(restoring.dataPath, "node1")
        XCTAssertEqual(restoring.restorePath, "backup.dzsnap")
    }

    func testSnapshotSchedule() throws {
        let defaults = try configuration(["-data", "node1"])
        XCTAssertEqual(defaults.snapshotRecords, 100_000)
        XCTAssertEqual(defaults.snapshotBytes, 64 << 20)
        let set = try configuration(["-data", "node1", "-snapshotevery", "20", "-snapshotbytes", "4096"])
        XCTAssertEqual(set.snapshotRecords, 20)
        XCTAssertEqual(set.snapshotBytes, 4096)
        XCTAssertEqual(usageError(["-snapshotevery", "0"])?.status, 2)
        XCTAssertEqual(usageError(["-snapshotbytes", "-1"])?.status, 2)
    }

    func testWebAddress() throws {
        XCTAssertEqual(try configuration(["-w", "127.0.0.1:8001"]).webAddress?.description, "127.0.0.1:8001")
        XCTAssertEqual(try configuration(["-l", "127.0.0.5:9000"]).webAddress?.description, "127.0.0.5:8000")
        XCTAssertNil(try configuration(["-w=false"]).webAddress)
        XCTAssertTrue(DoozerdCommandLine.usage(programName: "doozerd").contains("-w false"))
    }

    func testNodeIDsAreSixteenBase32Characters() throws {
        let id = try NodeID.random()
        XCTAssertEqual(id.bytes.count, 16)
        XCTAssertTrue(id.bytes.allSatisfy { (65...90).contains($0) || (50...55).contains($0) }, id.description)
        XCTAssertNotEqual(try NodeID.random(), id)
        // RFC 4648 test vector: "fooba" → "MZXW6YTB".
        XCTAssertEqual(String(decoding: NodeID.base32(Array("fooba".utf8)), as: UTF8.self), "MZXW6YTB")
    }
}

private struct UnexpectedInvocation: Error, CustomStringConvertible {
    let arguments: [String]
    let parsed: String
    init(arguments: [String], invocation: Invocation) {
        self.arguments = arguments
        parsed = "\(invocation)"
    }
    var description: String { "\(arguments) parsed as \(parsed), not as a configuration to run" }
}
