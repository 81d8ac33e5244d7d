// Multi-process cluster harness for the black-box cluster scenarios: starts several doozerd
// processes on fixed loopback IPs with the default ports (client + UDP peer 8046, web view
// 8000), waits for each to answer, suspends/resumes/kills one, and stops them all at the end
// even when a test fails. Built on `DoozerdProcess` (Harness.swift) and `runDoozerCLI`
// (CLISupport.swift); every wait is an event (WAIT) or a bounded poll, never a bare sleep.

import DoozerClient
import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One doozerd of a cluster test, listening on `<host>:8046` (web view on `<host>:8000`).
final class ClusterNode: @unchecked Sendable {
    /// Short name used in messages, e.g. "A1".
    let label: String
    let host: String
    let process: DoozerdProcess
    /// SELF, once the node answered.
    fileprivate(set) var id = ""

    init(label: String, host: String, process: DoozerdProcess) {
        self.label = label
        self.host = host
        self.process = process
    }

    /// The `-l` address, which is also the node's recorded `/ctl/node/<id>/addr`.
    var address: String { "\(host):\(ClusterHarness.clientPort)" }
    var uri: String { "doozer:?ca=\(address)" }
    var pid: Int32 { process.pid }
    var isRunning: Bool { process.isRunning }
    var name: String { "\(label) \(address)\(id.isEmpty ? "" : " id \(id)")" }

    /// A harness connection; every receive is bounded by `timeout` seconds.
    func connect(timeout: Double = 3) throws -> TestConnection {
        try TestConnection(host: host, port: ClusterHarness.clientPort, timeout: timeout)
    }

    /// A DoozerClient connection, for WAITs with a timeout.
    func dial(timeout: Double = 2) throws -> DoozerConnection {
        do {
            return try DoozerConnection.dial(address, timeout: .milliseconds(Int(timeout * 1000)))
        } catch {
            throw HarnessError("dial \(name): \(error)")
        }
    }

    /// `/$cluster.json` from `http://<host>:8000/`, decoded.
    func clusterDocument() throws -> [String: Any] {
        let reply = try WebClient.get(host: host, port: ClusterHarness.webPort, "/$cluster.json")
        guard reply.status == 200,
              let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] else {
            throw HarnessError("\(name): GET http://\(host):\(ClusterHarness.webPort)/$cluster.json answered \(reply)")
        }
        return object
    }
}

/// The processes of one cluster test. Create one per test (`ClusterTestCase` does) and call
/// `stopAll()` in tearDown.
final class ClusterHarness: @unchecked Sendable {
    static let clientPort: UInt16 = 8046
    static let webPort: UInt16 = 8000

    /// What "started" means for `start`.
    enum Readiness {
        /// Only that the process is running.
        case running
        /// Accepts a TCP connection and answers REV and SELF (members and slaves).
        case answering
        /// Answers, and has `/ctl/node/<id>/writable` = `true` in its own store (a member).
        case writable
    }

    /// The loopback block, e.g. "127.0.71": the test's nodes live on `<prefix>.<n>`.
    let prefix: String
    private let lock = NSLock()
    private(set) var nodes: [ClusterNode] = []
    /// Keep the nodes' log files after `stopAll` (their paths are in `report()`).
    var keepLogs = false

    init(prefix: String) { self.prefix = prefix }

    func host(_ n: Int) -> String { "\(prefix).\(n)" }

    // MARK: Starting and stopping

    /// Starts `doozerd -l <host>:8046 arguments…` (web view on its default `<host>:8000`) with
    /// the test's environment minus DOOZER_* plus `environment`, and waits for `readiness`
    /// (at most `timeout` s; an early exit fails at once with the node's stderr).
    @discardableResult
    func start(_ label: String, host: String, arguments: [String] = [], environment: [String: String] = [:],
               readiness: Readiness = .answering, timeout: Double = 10) throws -> ClusterNode {
        let node = try launch(label, host: host, arguments: arguments, environment: environment)
        try waitReady(node, readiness, timeout: timeout)
        return node
    }

    /// Launches all of `specs` at once (no waiting in between), then waits for each.
    @discardableResult
    func startParallel(_ specs: [(label: String, host: String)], arguments: [String] = [],
                       environment: [String: String] = [:], readiness: Readiness = .answering,
                       timeout: Double = 10) throws -> [ClusterNode] {
        let launched = try specs.map { try launch($0.label, host: $0.host, arguments: arguments, environment: environment) }
        let deadline = now() + timeout
        for node in launched { try waitReady(node, readiness, timeout: max(0.5, deadline - now())) }
        return launched
    }

    private func launch(_ label: String, host: String, arguments: [String], environment: [String: String]) throws -> ClusterNode {
        var config = DoozerdProcess.Config(arguments: arguments, environment: environment, webEnabled: true)
        config.host = host
        config.port = Self.clientPort
        config.skipReadiness = true
        let process = try DoozerdProcess(config)
        let node = ClusterNode(label: label, host: host, process: process)
        lock.lock()
        nodes.append(node)
        lock.unlock()
        return node
    }

    /// Waits (bounded poll, 50 ms) until `node` is `readiness`; fills in its id.
    func waitReady(_ node: ClusterNode, _ readiness: Readiness, timeout: Double = 10) throws {
        if readiness == .running { return }
        let start = now()
        let deadline = start + timeout
        var problem = "no attempt yet"
        while now() < deadline {
            if !node.isRunning {
                let exit = node.process.stop(timeout: 1)
                throw failure("\(node.name) exited before it was ready (\(exit)); last problem: \(problem)")
            }
            do {
                let connection = try node.connect(timeout: min(1, max(0.1, deadline - now())))
                defer { connection.close() }
                let rev = try connection.rev()
                if node.id.isEmpty { node.id = try connection.nodeID() }
                if readiness == .answering { return }
                let writable = try connection.get("/ctl/node/\(node.id)/writable")
                if writable.text == "true" { return }
                problem = "answers (rev \(rev)) but /ctl/node/\(node.id)/writable is \(writable.brief)"
            } catch {
                problem = "\(error)"
            }
            pause(0.05)
        }
        throw failure("\(node.name) not \(readiness) within \(timeout)s: \(problem)")
    }

    /// SIGSTOP: the process freezes (its sockets stay open).
    func suspend(_ node: ClusterNode) { signal(node, SIGSTOP) }
    /// SIGCONT.
    func resume(_ node: ClusterNode) { signal(node, SIGCONT) }
    /// SIGKILL, and reap.
    @discardableResult
    func kill(_ node: ClusterNode) -> DoozerdProcess.Exit { node.process.stop(signal: SIGKILL, timeout: 5) }

    /// SIGTERM (SIGCONT first, in case it is stopped), SIGKILL after `timeout`; reaps.
    @discardableResult
    func terminate(_ node: ClusterNode, timeout: Double = 5) -> DoozerdProcess.Exit {
        if node.isRunning { signal(node, SIGCONT) }
        return node.process.stop(signal: SIGTERM, timeout: timeout)
    }

    /// Waits (bounded poll, 20 ms) for `node` to exit by itself; its exit, or nil if still running.
    func waitForExit(_ node: ClusterNode, timeout: Double) -> DoozerdProcess.Exit? {
        let deadline = now() + timeout
        while node.isRunning && now() < deadline { pause(0.02) }
        if node.isRunning { return nil }
        return node.process.stop(timeout: 1)
    }

    private func signal(_ node: ClusterNode, _ sig: Int32) {
        if node.isRunning { _ = Glibc.kill(node.pid, sig) }
    }

    /// Stops every process this harness started (SIGCONT, SIGTERM, SIGKILL after 3 s); removes
    /// their logs unless `keepLogs`. Safe to call twice.
    func stopAll() {
        lock.lock()
        let all = nodes
        lock.unlock()
        for node in all where node.isRunning {
            _ = Glibc.kill(node.pid, SIGCONT)
            _ = Glibc.kill(node.pid, SIGTERM)
        }
        for node in all {
            node.process.stop(timeout: 3)
            if !keepLogs { node.process.removeLogs() }
        }
    }

    // MARK: Diagnostics

    /// Every node: name, state and the tail of its stderr.
    func report(tail: Int = 1200) -> String {
        lock.lock()
        let all = nodes
        lock.unlock()
        var text = "--- cluster \(prefix).x: \(all.count) doozerd process(es) ---\n"
        for node in all {
            let state = node.isRunning ? "running, pid \(node.pid)" : "exited (\(node.process.stop(timeout: 0.5)))"
            text += "[\(node.name), \(state)] stderr \(node.process.stderrURL.path):\n"
            let tailText = node.process.stderrTail(tail)
            text += tailText.isEmpty ? "  <empty>\n" : tailText.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        return text
    }

    /// A harness error whose text ends with every node's stderr tail.
    func failure(_ message: String) -> HarnessError { HarnessError("\(message)\n\(report())") }

    // MARK: The CLI

    /// `doozer arguments…` with `stdin` and the DOOZER_* variables of `environment` (8 s bound).
    func doozer(_ arguments: [String], stdin: String = "", environment: [String: String]) throws -> CLIResult {
        try runDoozerCLI(arguments, stdin: Array(stdin.utf8), environment: environment, timeout: 8)
    }

    // MARK: Events

    /// WAITs on `node` for `glob` from `rev` on, event after event, until `accept` returns true
    /// for one (returned); throws after `timeout` s with `what` and the events seen.
    @discardableResult
    func awaitEvent(on node: ClusterNode, _ glob: String, from rev: Int64, timeout: Double, _ what: String,
                    accept: (DoozerEvent) -> Bool = { _ in true }) throws -> DoozerEvent {
        let deadline = now() + timeout
        let connection = try node.dial(timeout: min(2, timeout))
        defer { connection.close() }
        var next = rev
        var seen: [String] = []
        while true {
            let remaining = deadline - now()
            guard remaining > 0 else { break }
            let event: DoozerEvent
            do {
                event = try connection.wait(glob, rev: next, timeout: .milliseconds(max(1, Int(remaining * 1000))))
            } catch .waitTimeout {
                break
            } catch {
                throw failure("\(what): WAIT \(glob) rev \(next) on \(node.name) failed: \(error); events seen: \(seen.suffix(10))")
            }
            if accept(event) { return event }
            seen.append(describe(event))
            next = event.rev + 1
        }
        throw failure("\(what): no such event on \(node.name) within \(timeout)s (WAIT \(glob) from rev \(rev)); "
            + "events seen: \(seen.suffix(10))")
    }

    /// The body of `path` on `node` as of `rev` (nil: current); a read at a future rev waits
    /// until the node has applied it (bounded by the connection's timeout).
    func read(_ path: String, on node: ClusterNode, rev: Int64? = nil, timeout: Double = 5) throws -> (body: String, rev: Int64) {
        let connection = try node.connect(timeout: timeout)
        defer { connection.close() }
        let response: Response
        do {
            response = try connection.get(path, rev: rev)
        } catch {
            throw failure("GET \(path)\(rev.map { " rev \($0)" } ?? "") on \(node.name): \(error)")
        }
        guard response.errCode == nil else {
            throw failure("GET \(path)\(rev.map { " rev \($0)" } ?? "") on \(node.name) answered \(response.brief)")
        }
        return (response.text ?? "", response.rev ?? 0)
    }

    /// Names in `dir` on `node` (current rev); empty if missing.
    func list(_ dir: String, on node: ClusterNode) throws -> [String] {
        let connection = try node.connect()
        defer { connection.close() }
        let first = try connection.getdir(dir, offset: 0)
        if first.error == .noEnt { return [] }
        do {
            return try connection.listDir(dir)
        } catch {
            throw failure("GETDIR \(dir) on \(node.name): \(error)")
        }
    }

    /// `/ctl/cal` of `node`: slot name → body.
    func calendar(on node: ClusterNode) throws -> [String: String] {
        var slots: [String: String] = [:]
        for slot in try list("/ctl/cal", on: node) { slots[slot] = try read("/ctl/cal/\(slot)", on: node).body }
        return slots
    }

    // MARK: The web view

    /// `http://<host>:8000/$cluster.json` of `node` (§7, README "Web view") shows the cluster
    /// name, the node itself and its role, exactly `members` and `slaves` with their addresses;
    /// and each member's `Applied` grows once that member's next pulse is an event on `node`.
    func checkWebView(of node: ClusterNode, clusterName: String, members: [ClusterNode], slaves: [ClusterNode],
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let first = try node.clusterDocument()
        let isMember = members.contains { $0 === node }
        XCTAssertEqual(first["Cluster"] as? String, clusterName, "§7 Cluster on \(node.name): \(first)", file: file, line: line)
        XCTAssertEqual(first["Self"] as? String, node.id, "§7 Self on \(node.name)", file: file, line: line)
        XCTAssertEqual(first["Role"] as? String, isMember ? "member" : "slave", "§7 Role of \(node.name): \(first)",
                       file: file, line: line)
        for (key, expected) in [("Members", members), ("Slaves", slaves)] {
            let listed = (first[key] as? [[String: Any]]) ?? []
            let shown = Dictionary(listed.compactMap { entry in (entry["Id"] as? String).map { ($0, entry["Addr"] as? String ?? "") } },
                                   uniquingKeysWith: { a, _ in a })
            XCTAssertEqual(shown, Dictionary(uniqueKeysWithValues: expected.map { ($0.id, $0.address) }),
                           "§7 \(key) (id → Addr) on \(node.name)'s web view: \(first)\n\(report(tail: 600))", file: file, line: line)
        }
        let applied1 = Self.appliedByID(first)
        let connection = try node.connect()
        let rev = try connection.rev()
        connection.close()
        for member in members {
            try awaitEvent(on: node, "/ctl/node/\(member.id)/applied", from: rev + 1, timeout: 5,
                           "§4.13 a pulse of \(member.name) seen on \(node.name)")
        }
        let applied2 = Self.appliedByID(try node.clusterDocument())
        for member in members {
            XCTAssertGreaterThan(applied2[member.id] ?? -1, applied1[member.id] ?? Int64.max,
                                 "§7 Applied of \(member.name) increases on \(node.name)'s web view: \(applied1) → \(applied2)",
                                 file: file, line: line)
        }
    }

    /// Members' `Applied` of a `$cluster.json` document, by id.
    static func appliedByID(_ document: [String: Any]) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for node in (document["Members"] as? [[String: Any]]) ?? [] {
            if let id = node["Id"] as? String, let applied = (node["Applied"] as? String).flatMap({ Int64($0) }) { out[id] = applied }
        }
        return out
    }

    func describe(_ event: DoozerEvent) -> String {
        let kind = event.isSet ? "set" : event.isDel ? "del" : "nop"
        return "\(event.rev) \(kind) \(event.path)=\(String(decoding: event.body, as: UTF8.self).debugDescription)"
    }
}

/// Base class of the cluster scenarios: a fresh `ClusterHarness` per test on the class's
/// loopback block, stopped in tearDown whatever happened.
class ClusterTestCase: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    private(set) var cluster: ClusterHarness!

    /// Builds the harness for this test on `prefix` (call first in each test).
    @discardableResult
    func useCluster(_ prefix: String) -> ClusterHarness {
        let harness = ClusterHarness(prefix: prefix)
        cluster = harness
        return harness
    }

    override func tearDown() {
        if let cluster {
            // Failure messages already carry the stderr tails; DOOZER_KEEP_CLUSTER_LOGS=1 keeps the files.
            cluster.keepLogs = ProcessInfo.processInfo.environment["DOOZER_KEEP_CLUSTER_LOGS"] == "1"
            cluster.stopAll()
        }
        cluster = nil
        super.tearDown()
    }
}
