// Multi-process black-box cluster scenarios, run exactly as users run them: real doozerd
// processes on fixed loopback IPs with the default ports, the `doozer` CLI with DOOZER_URI /
// DOOZER_BOOT_URI, WAITs for the events that prove each step (spec §4.12, §5, §7, §12.12).
// Each test owns a loopback block (127.0.71.x … 127.0.75.x) so the ports 8046/8000 never
// collide between tests; every process is stopped in tearDown, every wait is bounded.
//
// What the implementation must honour for these to pass:
// - `-a <member -l address>` attaches as a slave: before it answers clients it has written
//   /ctl/node/<id>/{addr (= its -l), hostname, version} in the cluster and replicates the tree;
//   SET/DEL/NOP on a slave answer READONLY (the CLI prints `Error: READONLY`, exit 2).
// - A slave claims an empty /ctl/cal/<slot> (body = its SELF), then writes writable = true;
//   a failed member's slot is *set to empty* and its /ctl/node/<id>/ files are deleted within
//   a few -timeout periods (-timeout 2 here); an emptied slot is claimed by a waiting slave.
// - After SIGCONT a removed member exits non-zero with a stderr line containing "removed", or
//   answers writes with READONLY (within 5 s).
// - -b / DOOZER_BOOT_URI: one node wins /ctl/boot/<name> (body = SELF) and registers
//   /ctl/ns/<name>/<id> = its address; losers become its slaves and leave no ns entry; new
//   members register their ns entry; after all nodes of the cluster were stopped, a fresh
//   node seeds a new cluster within 15 s, and /ctl/boot/<name> then holds its id.
// - The web view on <-l IP>:8000 serves /$cluster.json with Cluster, Self, Role, Members and
//   Slaves (Id, Addr, Applied); Applied follows the pulses.
// - Failed attaches (wrong -c, -a not a member) exit non-zero within 2.5 s with at most 3
//   stderr lines; forged UDP datagrams leave a member working.

import DoozerClient
import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Three members (the seed, then two slaves activated through `/ctl/cal/1` and `/ctl/cal/2`)
/// and one slave, formed as in scenario 1.
struct FormedCluster {
    let seed: ClusterNode
    /// Every node, the seed first.
    let all: [ClusterNode]
    /// The seed and the two activated nodes.
    let members: [ClusterNode]
    let slave: ClusterNode
    /// Slot name → the member holding it.
    let slots: [String: ClusterNode]

    func slot(of node: ClusterNode) -> String? { slots.first { $0.value === node }?.key }
}

final class ClusterScenarioTests: ClusterTestCase {
    /// Fast failure detection and live pulses for the scenarios.
    static let fastFlags = ["-pulse", "0.2", "-timeout", "5"]
    /// The drill writes as fast as it can until the removal shows: keep enough history for
    /// the WAITs that look back to its start.
    static let drillFlags = ["-pulse", "0.2", "-timeout", "2", "-hist", "100000"]

    // MARK: - Building blocks

    /// `printf '' | doozer set /ctl/cal/<slot> 0` with `environment` (DOOZER_URI, …); returns the printed rev.
    @discardableResult
    func createSlot(_ slot: String, environment: [String: String]) throws -> Int64 {
        let result = try cluster.doozer(["set", "/ctl/cal/\(slot)", "0"], stdin: "", environment: environment)
        guard result.status == 0, !result.timedOut, let rev = Int64(result.out.trimmingCharacters(in: .newlines)) else {
            throw cluster.failure("printf '' | doozer set /ctl/cal/\(slot) 0 with \(environment): \(result.summary)")
        }
        return rev
    }

    /// Seed `<prefix>.1` plus `<prefix>.2…4` attached with `-a` in parallel; checks what a
    /// fresh slave looks like (#98) and returns them (seed first).
    func startSeedAndSlaves(_ flags: [String], labelPrefix: String = "A") throws -> (seed: ClusterNode, slaves: [ClusterNode]) {
        let seed = try cluster.start("\(labelPrefix)1", host: cluster.host(1), arguments: flags, readiness: .writable)
        let slaves = try cluster.startParallel((2...4).map { ("\(labelPrefix)\($0)", cluster.host($0)) },
                                               arguments: flags + ["-a", seed.address], readiness: .answering, timeout: 15)
        // §5.4 step 1: each slave wrote its addr, hostname, version in the cluster (read on the seed).
        for slave in slaves {
            XCTAssertNotEqual(slave.id, seed.id, "a slave has its own id")
            XCTAssertEqual(try cluster.read("/ctl/node/\(slave.id)/addr", on: seed).body, slave.address,
                           "§5.4 \(slave.name) recorded its -l address in the cluster")
            XCTAssertFalse(try cluster.read("/ctl/node/\(slave.id)/hostname", on: seed).body.isEmpty, "§5.4 hostname of \(slave.name)")
            XCTAssertFalse(try cluster.read("/ctl/node/\(slave.id)/version", on: seed).body.isEmpty, "§5.4 version of \(slave.name)")
            // #98: it holds the cluster's tree and refuses writes.
            XCTAssertEqual(try cluster.read("/ctl/cal/0", on: slave).body, seed.id, "#98 \(slave.name) replicates /ctl/cal/0")
            let connection = try slave.connect()
            defer { connection.close() }
            for (verb, response) in [("SET", try connection.set("/slave/write", "x", rev: -1)),
                                     ("DEL", try connection.del("/slave/write", rev: -1)),
                                     ("NOP", try connection.nop())] {
                XCTAssertEqual(response.error, .readonly, "#98 \(verb) on slave \(slave.name): \(response.brief)\n\(cluster.report())")
            }
        }
        return (seed, slaves)
    }

    /// Creates `/ctl/cal/1` and `/ctl/cal/2` with the CLI (`environment`: DOOZER_URI, …), waits
    /// on `seed` until two of `candidates` claimed them and both wrote `writable` = `true`.
    func activateTwoSlots(seed: ClusterNode, candidates: [ClusterNode], environment: [String: String]) throws
        -> (members: [ClusterNode], slave: ClusterNode, slots: [String: ClusterNode]) {
        let before = try seed.connect().rev()
        try createSlot("1", environment: environment)
        try createSlot("2", environment: environment)
        var bodies: [String: String] = [:]
        try cluster.awaitEvent(on: seed, "/ctl/cal/*", from: before + 1, timeout: 15,
                               "§5.5 both new slots claimed by waiting slaves") { event in
            bodies[String(event.path.dropFirst("/ctl/cal/".count))] = String(decoding: event.body, as: UTF8.self)
            return !(bodies["1"] ?? "").isEmpty && !(bodies["2"] ?? "").isEmpty
        }
        var slots: [String: ClusterNode] = [:]
        for slot in ["1", "2"] {
            guard let holder = candidates.first(where: { $0.id == bodies[slot] }) else {
                throw cluster.failure("/ctl/cal/\(slot) = \(bodies[slot]!.debugDescription) is not the SELF of a waiting slave "
                    + "(\(candidates.map(\.name)))")
            }
            slots[slot] = holder
        }
        guard slots["1"]! !== slots["2"]! else { throw cluster.failure("one slave claimed both slots: \(bodies)") }
        let members = [slots["1"]!, slots["2"]!]
        for member in members {
            let event = try cluster.awaitEvent(on: seed, "/ctl/node/\(member.id)/writable", from: before + 1, timeout: 10,
                                               "§5.5 step 6: new member \(member.name) writes writable")
            XCTAssertEqual(String(decoding: event.body, as: UTF8.self), "true", "writable of \(member.name)")
        }
        let slave = candidates.first { node in !members.contains { $0 === node } }!
        return (members, slave, slots)
    }

    /// Scenario 1's formation: three members and one slave on `cluster`'s block.
    func formCluster(_ flags: [String]) throws -> FormedCluster {
        let (seed, slaves) = try startSeedAndSlaves(flags)
        let activated = try activateTwoSlots(seed: seed, candidates: slaves,
                                             environment: ["DOOZER_URI": "doozer:?ca=\(seed.address)"])
        var slots = activated.slots
        slots["0"] = seed
        let formed = FormedCluster(seed: seed, all: [seed] + slaves, members: [seed] + activated.members,
                                   slave: activated.slave, slots: slots)
        // Every /ctl/cal/* holds a member's id, on every node.
        let expected = Dictionary(uniqueKeysWithValues: slots.map { ($0.key, $0.value.id) })
        let rev = try seed.connect().rev()
        for node in formed.all {
            _ = try cluster.read("/ctl/cal/0", on: node, rev: rev) // parks until the node applied `rev`
            XCTAssertEqual(try cluster.calendar(on: node), expected, "/ctl/cal on \(node.name)\n\(cluster.report())")
        }
        return formed
    }

    /// Writes through `writer` (a harness SET bounded by `within` s); returns the rev.
    @discardableResult
    func write(_ path: String, _ value: String, through writer: ClusterNode, within: Double = 3) throws -> Int64 {
        let start = now()
        let connection = try writer.connect(timeout: within)
        defer { connection.close() }
        do {
            let rev = try connection.mustSet(path, value)
            return rev
        } catch {
            throw cluster.failure("SET \(path) through \(writer.name) did not succeed within \(within)s "
                + "(after \(String(format: "%.2f", now() - start))s): \(error)")
        }
    }

    /// The write at `rev` of `path` = `value` is visible on every node of `nodes`: WAIT sees it
    /// at exactly that rev, and GET at that rev (which parks until applied) returns it.
    func assertReplicated(_ path: String, _ value: String, rev: Int64, on nodes: [ClusterNode],
                          file: StaticString = #filePath, line: UInt = #line) throws {
        for node in nodes {
            let event = try cluster.awaitEvent(on: node, path, from: rev, timeout: 5, "§12.12 #106 \(path) on \(node.name)")
            XCTAssertEqual(event.rev, rev, "#106 WAIT on \(node.name) sees the same rev", file: file, line: line)
            XCTAssertEqual(String(decoding: event.body, as: UTF8.self), value, "#106 body on \(node.name)", file: file, line: line)
            XCTAssertEqual(try cluster.read(path, on: node, rev: rev).body, value, "#106 GET at \(rev) on \(node.name)",
                           file: file, line: line)
        }
    }

    // MARK: - Scenario 1: a cluster without DzNS

    func testScenario1ClusterWithoutDzNS() throws {
        useCluster("127.0.71")
        let c = try formCluster(Self.fastFlags)
        XCTAssertEqual(Set(c.members.map(\.id)).count, 3, "three distinct members")

        // A write through each member is readable on all four nodes at its rev.
        for member in c.members {
            let path = "/scenario1/via\(member.label)"
            let rev = try write(path, member.label, through: member)
            try assertReplicated(path, member.label, rev: rev, on: c.all)
        }

        // A SET on the slave answers READONLY, as the CLI prints it.
        let readonly = try cluster.doozer(["set", "/scenario1/onslave", "0"], stdin: "x",
                                          environment: ["DOOZER_URI": c.slave.uri])
        XCTAssertFalse(readonly.timedOut, "SET on the slave must not hang: \(readonly.summary)")
        XCTAssertEqual(readonly.status, 2, "CLI exit status of READONLY: \(readonly.summary)")
        XCTAssertEqual(readonly.out, "", "no stdout for READONLY")
        XCTAssertEqual(readonly.err, "Error: READONLY\n", "CLI error line for a SET on the slave")

        // Web view: every node lists the members and the slave; applied revisions advance.
        for node in c.all {
            try cluster.checkWebView(of: node, clusterName: "local", members: c.members, slaves: [c.slave])
        }
    }

    // MARK: - Scenario 2: booting a cluster through a DzNS

    func testScenario2BootThroughDzNS() throws {
        useCluster("127.0.72")
        let dzns = try formCluster(Self.fastFlags)
        let bootURI = "doozer:?" + dzns.members.map { "ca=\($0.address)" }.joined(separator: "&")
        let bootEnv = ["DOOZER_BOOT_URI": bootURI]
        let ns = dzns.seed

        // Four `doozerd -c example -l Bi:8046` at once: one seed, three slaves.
        let boots = try cluster.startParallel((1...4).map { ("B\($0)", cluster.host(10 + $0)) },
                                              arguments: ["-c", "example"] + Self.fastFlags, environment: bootEnv,
                                              readiness: .answering, timeout: 15)
        let boot = try cluster.read("/ctl/boot/example", on: ns)
        guard let seed = boots.first(where: { $0.id == boot.body }) else {
            throw cluster.failure("§5.7 /ctl/boot/example in the DzNS is \(boot.body.debugDescription) (rev \(boot.rev)), "
                + "not the id of one of \(boots.map(\.name))")
        }
        let slaves = boots.filter { $0 !== seed }
        XCTAssertEqual(try cluster.list("/ctl/ns/example", on: ns), [seed.id],
                       "§5.7 at first the DzNS names only the seed under /ctl/ns/example\n\(cluster.report())")
        XCTAssertEqual(try cluster.read("/ctl/ns/example/\(seed.id)", on: ns).body, seed.address, "§5.7 the seed's ns entry")
        XCTAssertEqual(try cluster.calendar(on: seed), ["0": seed.id], "the example seed is its only member")
        XCTAssertEqual(try cluster.read("/ctl/name", on: seed).body, "example", "cluster name")
        for slave in slaves {
            XCTAssertEqual(try cluster.read("/ctl/node/\(slave.id)/addr", on: seed).body, slave.address,
                           "§5.7 loser \(slave.name) attached as a slave of \(seed.name)")
            XCTAssertEqual(try cluster.read("/ctl/name", on: slave).body, "example", "\(slave.name) replicates example")
        }

        // Slots created through the name service, as users do.
        let env = ["DOOZER_URI": "doozer:?cn=example", "DOOZER_BOOT_URI": bootURI]
        let nsBefore = try ns.connect().rev()
        let activated = try activateTwoSlots(seed: seed, candidates: slaves, environment: env)
        for member in activated.members {
            let event = try cluster.awaitEvent(on: ns, "/ctl/ns/example/\(member.id)", from: nsBefore + 1, timeout: 10,
                                               "§5.5 step 7: \(member.name) registers in the DzNS")
            XCTAssertEqual(String(decoding: event.body, as: UTF8.self), member.address, "ns entry of \(member.name)")
        }
        XCTAssertEqual(Set(try cluster.list("/ctl/ns/example", on: ns)), Set(([seed] + activated.members).map(\.id)),
                       "§5.7 /ctl/ns/example names exactly the members; losers left no entry\n\(cluster.report())")

        // B14: stop the whole example cluster, then boot a fresh node with the same name.
        for node in boots {
            let exit = cluster.terminate(node, timeout: 5)
            XCTAssertFalse(exit.killed, "\(node.name) exits on SIGTERM: \(exit)")
        }
        let start = now()
        let fresh = try cluster.start("B5", host: cluster.host(15), arguments: ["-c", "example"] + Self.fastFlags,
                                      environment: bootEnv, readiness: .writable, timeout: 15)
        let elapsed = now() - start
        XCTAssertEqual(try cluster.calendar(on: fresh), ["0": fresh.id],
                       "B14: the fresh node seeded a new example cluster (took \(String(format: "%.1f", elapsed))s)")
        XCTAssertEqual(try cluster.read("/ctl/boot/example", on: ns).body, fresh.id,
                       "B14: the DzNS boot record names the new seed\n\(cluster.report())")
        XCTAssertEqual(try cluster.read("/ctl/ns/example/\(fresh.id)", on: ns).body, fresh.address,
                       "B14: the new seed is registered in the DzNS")
        let rev = try write("/scenario2/after", "restart", through: fresh)
        XCTAssertEqual(try cluster.read("/scenario2/after", on: fresh, rev: rev).body, "restart", "the new example cluster works")
    }

    // MARK: - Scenario 3: fire drill

    func testScenario3FireDrill() throws {
        useCluster("127.0.73")
        let c = try formCluster(Self.drillFlags)
        let seed = c.seed
        guard let victim = c.members.last(where: { $0 !== seed }), let victimSlot = c.slot(of: victim) else {
            throw cluster.failure("no non-seed member")
        }
        let survivor = c.members.first { $0 !== seed && $0 !== victim }!
        let before = try seed.connect().rev()

        cluster.suspend(victim)
        // Reads and writes through the other members keep succeeding, each within 3 s, while
        // failure detection runs (writes continue until the removal has been seen).
        var removedSlotAt: Int64?
        var round = 0
        let drillDeadline = now() + 15
        while removedSlotAt == nil {
            guard now() < drillDeadline else {
                throw cluster.failure("#104 \(victim.name) (slot \(victimSlot)) still in /ctl/cal/\(victimSlot) 15 s after SIGSTOP "
                    + "with -timeout 2: \(try cluster.calendar(on: seed))")
            }
            round += 1
            for writer in [seed, survivor] {
                let path = "/drill/\(writer.label)/\(round)"
                let rev = try write(path, "\(round)", through: writer, within: 3)
                for reader in [seed, survivor] {
                    XCTAssertEqual(try cluster.read(path, on: reader, rev: rev, timeout: 3).body, "\(round)",
                                   "#104 read back \(path) on \(reader.name)")
                }
            }
            let slot = try cluster.read("/ctl/cal/\(victimSlot)", on: seed)
            if slot.body != victim.id { removedSlotAt = slot.rev }
        }
        // The slot was emptied (an event with an empty body), and the node's files disappeared.
        let emptied = try cluster.awaitEvent(on: seed, "/ctl/cal/\(victimSlot)", from: before + 1, timeout: 1,
                                             "#104 /ctl/cal/\(victimSlot) emptied") { $0.body.isEmpty || $0.isDel }
        XCTAssertTrue(emptied.isSet && emptied.body.isEmpty, "#104 the slot is emptied (set to empty): \(cluster.describe(emptied))")
        try cluster.awaitEvent(on: seed, "/ctl/node/\(victim.id)/*", from: before + 1, timeout: 10,
                               "#104 every /ctl/node/\(victim.id)/ file deleted") { event in
            guard event.isDel, let connection = try? seed.connect(),
                  let stat = try? connection.stat("/ctl/node/\(victim.id)", rev: event.rev) else { return false }
            connection.close()
            return stat.errCode == nil && (stat.rev ?? 0) == 0 // the directory is gone
        }

        // #105: resumed, the removed node must not act as a member (exit, or READONLY) — bounded.
        cluster.resume(victim)
        try assertRemovedNodeIsNotAMember(victim)

        // The slave becomes a member: it takes the emptied slot, or a new one.
        let slave = c.slave
        let claimStart = try seed.connect().rev()
        let claimed: DoozerEvent
        do {
            claimed = try cluster.awaitEvent(on: seed, "/ctl/cal/*", from: before + 1, timeout: 5,
                                             "the slave claims the emptied slot") { String(decoding: $0.body, as: UTF8.self) == slave.id }
        } catch {
            try createSlot("3", environment: ["DOOZER_URI": seed.uri])
            claimed = try cluster.awaitEvent(on: seed, "/ctl/cal/*", from: claimStart, timeout: 10,
                                             "the slave claims /ctl/cal/3") { String(decoding: $0.body, as: UTF8.self) == slave.id }
        }
        try cluster.awaitEvent(on: seed, "/ctl/node/\(slave.id)/writable", from: claimed.rev, timeout: 10,
                               "§5.5 the former slave \(slave.name) becomes writable") { String(decoding: $0.body, as: UTF8.self) == "true" }
        let rev = try write("/drill/promoted", slave.id, through: slave, within: 3)
        try assertReplicated("/drill/promoted", slave.id, rev: rev, on: [seed, survivor, slave])
    }

    /// After SIGCONT the removed node either exits non-zero with one line saying it was removed,
    /// or answers a SET with READONLY; a success or a hang fails.
    func assertRemovedNodeIsNotAMember(_ node: ClusterNode) throws {
        func checkExit(_ exit: DoozerdProcess.Exit) {
            XCTAssertTrue(exit.reason == .exit && exit.status != 0, "#105 a removed node exits with a non-zero status: \(exit)")
            let lines = node.process.stderrTail(4000).split(separator: "\n")
            XCTAssertTrue(lines.contains { $0.lowercased().contains("removed") },
                          "#105 a line on its stderr says it was removed\n\(cluster.report())")
        }
        if let exit = cluster.waitForExit(node, timeout: 0.5) { return checkExit(exit) }
        let start = now()
        let response: Response
        do {
            let connection = try node.connect(timeout: 5)
            defer { connection.close() }
            response = try connection.set("/drill/zombie", "x", rev: -1)
        } catch {
            if let exit = cluster.waitForExit(node, timeout: 3) { return checkExit(exit) }
            throw cluster.failure("#105 SET through the removed, resumed \(node.name) neither answered nor did the node exit "
                + "(\(String(format: "%.1f", now() - start))s): \(error)")
        }
        XCTAssertEqual(response.error, .readonly,
                       "#105 SET through the removed \(node.name) must answer READONLY: \(response.brief)\n\(cluster.report())")
    }

    // MARK: - §12.12 #99: attaching to the wrong thing fails fast

    func testAttachWrongClusterNameOrNonMemberFailsFast() throws {
        useCluster("127.0.74")
        let seed = try cluster.start("S", host: cluster.host(1), arguments: ["-c", "right"] + Self.fastFlags, readiness: .writable)
        let attempts: [(String, [String])] = [
            ("wrong -c", ["-c", "wrong", "-a", seed.address]),
            // By default -a keeps trying while nothing listens (-attachwait, FlagTests); once, it fails fast.
            ("-a with nothing listening", ["-c", "right", "-a", "\(cluster.host(9)):8046", "-attachwait", "0"]),
            ("-a naming the web view, not a member", ["-c", "right", "-a", "\(seed.host):8000"]),
        ]
        for (item, arguments) in attempts {
            let run = try runToExit(try DoozerdBinary.get(), ["-l", "\(cluster.host(2)):8046"] + arguments + Self.fastFlags,
                                    stdin: nil, environment: [:], timeout: 5)
            let err = String(decoding: run.stderr, as: UTF8.self)
            let summary = "status \(run.status)\(run.timedOut ? " (killed after 5 s)" : ""), \(String(format: "%.2f", run.elapsed))s, "
                + "stderr \(err.debugDescription)"
            XCTAssertFalse(run.timedOut, "#99 \(item): must exit by itself; \(summary)")
            XCTAssertEqual(run.reason, .exit, "#99 \(item): exits, no signal; \(summary)")
            XCTAssertNotEqual(run.status, 0, "#99 \(item): non-zero exit; \(summary)")
            XCTAssertLessThan(run.elapsed, 4, "#99 \(item): fails within ~1–2 s; \(summary)")
            let lines = err.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            XCTAssertFalse(lines.isEmpty, "#99 \(item): says why on stderr; \(summary)")
            XCTAssertLessThanOrEqual(lines.count, 3, "#99 \(item): one clear line, not a dump; \(summary)")
            XCTAssertFalse(err.contains("Fatal error") || err.contains("panic") || err.contains("Stack dump"),
                           "#99 \(item): no crash; \(summary)")
        }
        // None of them joined.
        XCTAssertEqual(try cluster.list("/ctl/node", on: seed), [seed.id], "#99 no failed attach left a node entry")
        XCTAssertTrue(seed.isRunning, "the member survives\n\(cluster.report())")
    }

    // MARK: - A stopped leader

    /// SIGSTOP the leader (the seed leads from the start): the other members elect another
    /// and take writes within a few hundred milliseconds; resumed before `-timeout`, the old
    /// leader follows the new one and takes writes again (forwarding them).
    func testAStoppedLeaderIsReplacedAndRejoinsAsAFollower() throws {
        useCluster("127.0.78")
        let c = try formCluster(Self.fastFlags)
        let others = c.members.filter { $0 !== c.seed }
        cluster.suspend(c.seed)
        for member in others {
            let rev = try write("/leader/stopped/\(member.label)", "ok", through: member, within: 3)
            for reader in others {
                XCTAssertEqual(try cluster.read("/leader/stopped/\(member.label)", on: reader, rev: rev, timeout: 3).body, "ok")
            }
        }
        cluster.resume(c.seed)
        let rev = try write("/leader/resumed", "ok", through: c.seed, within: 3)
        for node in c.all {
            XCTAssertEqual(try cluster.read("/leader/resumed", on: node, rev: rev, timeout: 3).body, "ok",
                           "the resumed old leader's write replicates to \(node.name)")
        }
    }

    // MARK: - Cut off from the majority

    /// A member whose peers are all stopped is cut off from its cluster's majority: within two
    /// election timeouts its web view and its log say so, its reads still answer at once (from
    /// its replica), and once the others are back it says it is in contact again.
    func testANodeCutOffFromItsMajoritySaysSoAndStillAnswersReads() throws {
        useCluster("127.0.84")
        let c = try formCluster(Self.fastFlags)
        let rev = try write("/cut/before", "seen", through: c.seed)
        let others = c.members.filter { $0 !== c.seed }
        for member in others { cluster.suspend(member) }
        try awaitMajority(of: c.seed, startingWith: "cut off")
        let started = now()
        XCTAssertEqual(try cluster.read("/cut/before", on: c.seed).body, "seen", "a read answers from the replica")
        XCTAssertLessThan(now() - started, 2, "and does not wait for the majority")
        XCTAssertTrue(c.seed.process.stderrTail(20_000).contains("no contact with a majority of cluster"), cluster.report())
        for member in others { cluster.resume(member) }
        try awaitMajority(of: c.seed, startingWith: "in contact")
        XCTAssertTrue(c.seed.process.stderrTail(20_000).contains("in contact with the cluster again"), cluster.report())
        XCTAssertGreaterThanOrEqual(try c.seed.connect().rev(), rev)
    }

    /// Polls `node`'s `/$cluster.json` until its Stats.Majority starts with `prefix` (10 s at most).
    private func awaitMajority(of node: ClusterNode, startingWith prefix: String) throws {
        let deadline = now() + 10
        var last = ""
        while now() < deadline {
            let stats = try node.clusterDocument()["Stats"] as? [String: Any]
            last = stats?["Majority"] as? String ?? ""
            if last.hasPrefix(prefix) { return }
            usleep(50_000)
        }
        throw cluster.failure("\(node.name)'s web view says \"\(last)\", not \"\(prefix)…\"")
    }

    // MARK: - Catching up from a snapshot

    /// A slave stopped while the cluster decides more instances than its members keep
    /// (4096, beyond what its socket buffer holds of what they pushed) copies a member's state when resumed, installs it and follows on.
    func testANodeFarBehindCatchesUpFromASnapshot() throws {
        useCluster("127.0.79")
        let c = try formCluster(["-pulse", "0.2", "-timeout", "60"])
        cluster.suspend(c.slave)
        let connection = try c.seed.dial(timeout: 10)
        defer { connection.close() }
        // 3 KiB values: what the members push to the stopped slave overflows its socket buffer,
        // so it cannot catch up from the datagrams waiting there either.
        let padding = String(repeating: ".", count: 3 << 10)
        var last: Int64 = 0
        for i in 0..<12000 { last = try connection.set("/behind/\(i % 100)", rev: -1, body: Array("v\(i)\(padding)".utf8)) }
        cluster.resume(c.slave)
        _ = try write("/behind/after", "following", through: c.seed)
        // The slave jumps to the snapshot's revision, so reads of the revisions it skipped are
        // TOO_LATE there: watch the current tree until the last write shows (bounded).
        let deadline = now() + 15
        while try cluster.read("/behind/after", on: c.slave).body != "following" {
            guard now() < deadline else { throw cluster.failure("the slave did not catch up within 15 s") }
            usleep(20_000)
        }
        XCTAssertEqual(try cluster.read("/behind/99", on: c.slave).body, "v11999\(padding)", "the slave has every write")
        XCTAssertGreaterThanOrEqual(last, 12000)
        let log = try String(contentsOf: c.slave.process.stderrURL, encoding: .utf8)
        XCTAssertTrue(log.contains("caught up from a snapshot"), "through a snapshot:\n\(log)")
        let rev = try write("/behind/later", "following", through: c.seed)
        XCTAssertEqual(try cluster.read("/behind/later", on: c.slave, rev: rev, timeout: 5).body, "following",
                       "and follows the log again")
    }

    // MARK: - B3: large values

    /// A 1 MiB value written through a member that is not the leader (forwarded) replicates to
    /// every node, over the peer streams rather than in fragments; a write over the 4 MiB limit
    /// is refused before it is proposed, with a clear error, and the cluster goes on (the
    /// original wedged on 3.1 KB).
    func testLargeValuesReplicateAndOversizedOnesAreRefused() throws {
        useCluster("127.0.77")
        let c = try formCluster(Self.fastFlags)
        var rng = SystemRandomNumberGenerator()
        let big = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let through = c.members.last!
        let connection = try through.dial(timeout: 10)
        defer { connection.close() }
        let rev = try connection.set("/large/one", rev: -1, body: big)
        for node in c.all {
            let read = try node.dial(timeout: 10)
            defer { read.close() }
            let got = try read.get("/large/one", rev: rev)
            XCTAssertTrue(got.body == big, "B3: the 1 MiB value on \(node.name) (\(got.body.count) bytes)")
        }
        let huge = [UInt8](repeating: 7, count: 5 << 20)
        XCTAssertThrowsError(try connection.set("/large/huge", rev: -1, body: huge)) { error in
            XCTAssertEqual((error as? DoozerError)?.code, .other, "B3: refused, not wedged: \(error)")
            XCTAssertTrue("\(error)".contains("value too large"), "B3: says why: \(error)")
        }
        _ = try write("/large/after", "still writable", through: c.seed)

        // Every message too large for a datagram crossed a stream: the forward, the accepts.
        try assertNoStreamFailed(on: c.all)
        var totals: [String: Int] = [:]
        for node in c.all { totals.merge(try stopAndReadPeerTraffic(node), uniquingKeysWith: +) }
        XCTAssertGreaterThanOrEqual(totals["messages_streamed"] ?? 0, 3, "the forward and two accepts at least: \(totals)")
        XCTAssertEqual(totals["messages_streamed"], totals["records_received"].map { $0 - (totals["streams_opened"] ?? 0) },
                       "every streamed message arrived (each stream's first record is its header alone): \(totals)")
        XCTAssertEqual(totals["fragments_sent"], 0, "no message went in fragments: \(totals)")
    }

    /// The peer streams present the cluster's secret: with DOOZER_RWSECRET set, a 1 MiB value
    /// still reaches a slave over a stream. Records that do not come from a peer (here from a
    /// client that knows the secret) are dropped and refused with an error, and the node goes on.
    func testPeerStreamsPresentTheSecretAndIgnoreForgedRecords() throws {
        useCluster("127.0.82")
        let environment = ["DOOZER_RWSECRET": "s3cret"]
        let secret = Array("s3cret".utf8)
        let seed = try cluster.start("S", host: cluster.host(1), arguments: Self.fastFlags, environment: environment,
                                     readiness: .answering)
        let slave = try cluster.start("L", host: cluster.host(2), arguments: Self.fastFlags + ["-a", seed.address],
                                      environment: environment, readiness: .answering)

        let forger = try seed.connect()
        defer { forger.close() }
        try forger.send(Request(verb: .access, value: secret))
        XCTAssertNil(try forger.receive().errCode, "the forger knows the secret")
        let header: [UInt8] = [0x44, 0x5A, 0x50, 1] + [UInt8](repeating: 0, count: 16)   // another cluster, sender 0
        let forged: [[UInt8]] = [[], [1, 2, 3], header, header + [1, 0xff, 0xff], [UInt8](repeating: 0xAB, count: 70_000)]
        for value in forged { try forger.send(Request(verb: Verb.peer.rawValue, value: value)) }
        for value in forged {
            let answer = try forger.receive()
            XCTAssertEqual(answer.error, .other, "a forged record of \(value.count) bytes is refused: \(answer)")
            XCTAssertEqual(answer.errDetail, "not a peer of this cluster")
        }

        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let writer = try seed.dial(timeout: 10)
        defer { writer.close() }
        try writer.access(secret)
        let rev = try writer.set("/large/secret", rev: -1, body: big)
        let reader = try slave.dial(timeout: 10)
        defer { reader.close() }
        try reader.access(secret)
        XCTAssertTrue(try reader.get("/large/secret", rev: rev).body == big, "the value on the slave")
        XCTAssertGreaterThan(try forger.rev(), 0, "the forger's connection still answers")

        try assertNoStreamFailed(on: [seed, slave])
        let traffic = try stopAndReadPeerTraffic(seed)
        XCTAssertEqual(traffic["fragments_sent"], 0, "\(traffic)")
        XCTAssertGreaterThan(traffic["messages_streamed"] ?? 0, 0, "\(traffic)")
    }

    /// A stream's first record (the sender's header alone) lets the connection carry peer
    /// messages larger than the receiver's `-maxframe`: here batches of writes that each fit it.
    func testPeerStreamsCarryBatchesLargerThanMaxframe() throws {
        useCluster("127.0.83")
        let flags = Self.fastFlags + ["-maxframe", "65536"]
        let seed = try cluster.start("S", host: cluster.host(1), arguments: flags, readiness: .writable)
        let slave = try cluster.start("L", host: cluster.host(2), arguments: flags + ["-a", seed.address],
                                      readiness: .answering)
        let connection = try seed.connect(timeout: 10)
        defer { connection.close() }
        let value = [UInt8](repeating: 0x5A, count: 40_000)
        var last: Int64 = 0
        for burst in 0..<5 {   // three pipelined SETs: two or three of them share a batch
            for i in 0..<3 {
                try connection.send(Request(tag: Int32(i), verb: .set, path: "/big/\(burst)-\(i)", value: value, rev: -1))
            }
            for _ in 0..<3 {
                let answer = try connection.receive()
                XCTAssertNil(answer.error, "\(answer)")
                last = max(last, answer.rev ?? 0)
            }
        }
        XCTAssertEqual(try cluster.read("/big/4-2", on: slave, rev: last).body.utf8.count, value.count, "on the slave")
        try assertNoStreamFailed(on: [seed, slave])
        let traffic = try stopAndReadPeerTraffic(seed)
        XCTAssertEqual(traffic["fragments_sent"], 0, "\(traffic)")
        XCTAssertGreaterThan(traffic["messages_streamed"] ?? 0, 0, "batches over 64 KiB crossed the stream: \(traffic)")
    }

    /// No node of `nodes` logged a failed peer stream or a peer frame refused as too large.
    func assertNoStreamFailed(on nodes: [ClusterNode], file: StaticString = #filePath, line: UInt = #line) throws {
        for node in nodes {
            let log = try String(contentsOf: node.process.stderrURL, encoding: .utf8)
            for sign in ["peer stream to", "exceeds -maxframe"] {
                XCTAssertFalse(log.contains(sign), "\(sign) … on \(node.name)\n\(cluster.report())", file: file, line: line)
            }
        }
    }

    /// Stops `node` and returns the counters of the `peer traffic:` line it logs at shutdown.
    func stopAndReadPeerTraffic(_ node: ClusterNode) throws -> [String: Int] {
        _ = cluster.terminate(node)
        let log = try String(contentsOf: node.process.stderrURL, encoding: .utf8)
        guard let line = log.split(separator: "\n").last(where: { $0.contains("peer traffic:") }) else {
            throw cluster.failure("no peer traffic line from \(node.name)")
        }
        var counters: [String: Int] = [:]
        for pair in line.split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { counters[String(parts[0])] = value }
        }
        return counters
    }

    // MARK: - §12.12 #107: forged UDP datagrams

    func testForgedDatagramsDoNotHurtAMember() throws {
        useCluster("127.0.75")
        let member = try cluster.start("M", host: cluster.host(1), arguments: Self.fastFlags, readiness: .writable)
        let connection = try member.connect()
        defer { connection.close() }
        let current = try connection.rev()
        let forgedValue = Array("-1:/pwned=yes".utf8)

        var datagrams: [[UInt8]] = [[], [0], [0xff], [UInt8](repeating: 0xff, count: 64)]
        var generator = SystemRandomNumberGenerator()
        for size in [1, 7, 100, 1400, 2999, 3001, 9000, 65000] {
            datagrams.append((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        // Original-style consensus messages (spec §4.3, proto2 Msg) for seqns just ahead.
        func msg(cmd: UInt64, seqn: Int64, crnd: Int64? = nil, vrnd: Int64? = nil, value: [UInt8]? = nil) -> [UInt8] {
            var out: [UInt8] = [0x08] + varint(cmd) + [0x10] + varint(UInt64(bitPattern: seqn))
            if let crnd { out += [0x18] + varint(UInt64(bitPattern: crnd)) }
            if let vrnd { out += [0x20] + varint(UInt64(bitPattern: vrnd)) }
            if let value { out += [0x2a] + varint(UInt64(value.count)) + value }
            return out
        }
        for ahead in Int64(1)...3 {
            let seqn = current + ahead
            datagrams.append(msg(cmd: 7, seqn: seqn, value: forgedValue))                  // LEARN
            datagrams.append(msg(cmd: 4, seqn: seqn, vrnd: 1_000_000, value: forgedValue)) // VOTE
            datagrams.append(msg(cmd: 3, seqn: seqn, crnd: 1_000_000, value: forgedValue)) // NOMINATE
            datagrams.append(msg(cmd: 6, seqn: seqn, value: forgedValue))                  // PROPOSE
            datagrams.append(msg(cmd: 1, seqn: seqn, crnd: 1_000_000))                     // INVITE
        }
        datagrams.append(msg(cmd: 5, seqn: Int64.max))                                     // TICK
        datagrams.append(msg(cmd: 7, seqn: -1, value: forgedValue))
        // Shapes of the Swift peer protocol (kind byte first), unframed and unauthenticated.
        let u64 = { (v: UInt64) in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        datagrams.append([6] + varint(1_000_000) + u64(1) + varint(UInt64(current + 5)))         // commit upTo
        datagrams.append([9] + varint(UInt64(current + 5)) + [1] + u64(1) + varint(1) + varint(UInt64(current + 1))
                         + varint(1) + u64(1) + varint(1) + varint(1) + varint(UInt64(forgedValue.count)) + forgedValue) // entries
        datagrams.append([9] + varint(0) + [0] + varint(UInt64.max))                              // absurd count
        datagrams.append([2] + varint(UInt64.max) + u64(UInt64.max) + varint(0) + varint(0) + varint(1 << 40)) // promise

        try sendDatagrams(datagrams, from: cluster.host(2), to: member.host, port: ClusterHarness.clientPort)

        // Still a working member: REV answers, writes commit, nothing forged was applied.
        let rev = try write("/forged/check", "ok", through: member)
        XCTAssertGreaterThan(rev, current, "#107 writes still commit")
        XCTAssertEqual(try cluster.read("/forged/check", on: member, rev: rev).body, "ok")
        XCTAssertGreaterThanOrEqual(try connection.rev(), rev, "#107 REV still answers")
        let forged = try connection.get("/pwned")
        XCTAssertTrue(forged.errCode == nil && (forged.rev ?? 0) == 0, "#107 no forged mutation was applied: \(forged.brief)")
        try cluster.awaitEvent(on: member, "/ctl/node/\(member.id)/applied", from: rev + 1, timeout: 5, "#107 pulses continue")
        XCTAssertTrue(member.isRunning, "#107 the member survives forged datagrams\n\(cluster.report())")
    }

    /// Sends each datagram from a socket bound to `source` (an ephemeral port) to host:port.
    func sendDatagrams(_ datagrams: [[UInt8]], from source: String, to host: String, port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        func address(_ ip: String, _ port: UInt16) -> sockaddr_in {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, ip, &a.sin_addr)
            return a
        }
        var local = address(source, 0)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind \(source): errno \(errno)") }
        var remote = address(host, port)
        precondition(host.hasPrefix("127."))
        for datagram in datagrams {
            let sent = datagram.withUnsafeBytes { buffer in
                withUnsafePointer(to: &remote) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            // EMSGSIZE for the largest is fine; anything else is the harness's problem.
            if sent < 0 && errno != EMSGSIZE { throw HarnessError("sendto \(host):\(port): errno \(errno)") }
        }
    }
}
