// The cluster of a fault run, formed as a user forms one: a durable seed, three durable nodes
// attached with -a, two of them promoted through empty files under /ctl/cal. Faults are
// injected and healed here; after each heal a write through every member must succeed.

import DoozerClient
import DoozerWire
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Owns the four nodes (three members, one slave), their folder and the firewall.
final class FaultCluster: @unchecked Sendable {
    /// Every node's flags: `-timeout` far longer than any fault lasts (no member is removed),
    /// and history enough to read back to the run's first revision at the end.
    static let flags = ["-timeout", "60", "-hist", "10000000", "-histbytes", "1073741824"]

    let nodes: [FaultNode]
    let firewall: Firewall
    private let recorder: HistoryRecorder
    private let probes = Atomic<Int>(0)

    var seed: FaultNode { nodes[0] }
    var members: [FaultNode] { nodes.filter(\.isMember) }

    /// Four nodes on 127.0.0.11–14, each with `folder/nK` as its -data and `folder/nK.log`.
    init(binary: String, nft: String, folder: String, recorder: HistoryRecorder) {
        self.recorder = recorder
        firewall = Firewall(nft: nft)
        nodes = (1...4).map { n in
            let host = "127.0.0.\(10 + n)"
            let attach = n == 1 ? [] : ["-a", "127.0.0.11:\(FaultNode.port)"]
            return FaultNode(label: "n\(n)", host: host, binary: binary,
                             arguments: Self.flags + ["-data", "\(folder)/n\(n)"] + attach, logPath: "\(folder)/n\(n).log")
        }
    }

    // MARK: Forming

    /// The seed, then three slaves once it is writable, then `/ctl/cal/1` and `/ctl/cal/2`;
    /// returns once two slaves claimed them and wrote `writable`.
    func form() throws {
        try seed.start()
        try seed.awaitAnswering(within: 15)
        seed.isMember = true
        let link = try ClientLink.dial(seed, timeout: 2)
        defer { link.close() }
        try awaitChange(on: link, within: 15, "\(seed.name) writable") { try isWritable(seed.id, on: link) }
        for node in nodes.dropFirst() { try node.start() }
        for node in nodes.dropFirst() { try node.awaitAnswering(within: 20) }
        for slot in ["1", "2"] {
            let response = try link.call(Request(verb: .set, path: "/ctl/cal/\(slot)", value: [], rev: 0), timeout: 5)
            guard response.errCode == nil else { throw FaultError("creating /ctl/cal/\(slot): \(response)") }
        }
        var holders: [String] = []
        try awaitChange(on: link, within: 20, "slots 1 and 2 claimed by writable slaves") {
            holders = try ["1", "2"].map { try read("/ctl/cal/\($0)", on: link) }
            return try holders.allSatisfy { try isWritable($0, on: link) }
        }
        for node in nodes where holders.contains(node.id) { node.isMember = true }
        guard members.count == 3 else { throw FaultError("slots claimed by \(holders), not two of the slaves") }
    }

    /// Returns once `holds` is true, checking it again after each event under /ctl (WAIT), for
    /// at most `seconds`.
    private func awaitChange(on link: ClientLink, within seconds: Double, _ what: String, _ holds: () throws -> Bool) throws {
        let deadline = Clock.seconds() + seconds
        var rev = try link.rev(timeout: 2)
        while try !holds() {
            let remaining = deadline - Clock.seconds()
            guard remaining > 0 else { throw FaultError("not within \(seconds) s: \(what)") }
            do {
                rev = try link.connection.wait("/ctl/**", rev: rev + 1, timeout: .milliseconds(Int(remaining * 1000))).rev
            } catch .waitTimeout {
                throw FaultError("not within \(seconds) s: \(what)")
            }
        }
    }

    /// `id` names a node (not an empty slot) that wrote `writable` = `true`.
    private func isWritable(_ id: String, on link: ClientLink) throws -> Bool {
        try !id.isEmpty && read("/ctl/node/\(id)/writable", on: link) == "true"
    }

    private func read(_ path: String, on link: ClientLink) throws -> String {
        let response = try link.call(Request(verb: .get, path: path), timeout: 5)
        return String(decoding: response.value ?? [], as: UTF8.self)
    }

    // MARK: Faults

    func inject(_ fault: Fault) throws {
        try firewall.drop(fault.rules)
        for node in fault.paused { node.pause() }
        for node in fault.killed { node.kill9() }
    }

    /// Drops no packet any more, resumes every node and starts every dead one with its command
    /// line; returns once each answers, with the packets the fault's rules dropped.
    func heal() throws -> Int {
        let dropped = try firewall.heal()
        for node in nodes { node.resume() }
        for node in nodes where !node.isRunning { try node.start() }
        for node in nodes { try node.awaitAnswering(within: 30) }
        return dropped
    }

    /// Nodes that exited by themselves since the last look, with how.
    func unexpectedExits() -> [String] {
        nodes.compactMap { node in node.unexpectedExit().map { "\(node.name) exited by itself (\($0))" } }
    }

    // MARK: Probes

    /// A SET through every member at once, each retried until one succeeds (at most `seconds`);
    /// every attempt is part of the history. Returns the seconds each member took, by label.
    func awaitWritable(within seconds: Double) throws -> [String: Double] {
        let started = Clock.seconds()
        let targets = members
        let times = inParallel(targets.count) { i in
            self.probe(targets[i], until: started + seconds) ? Clock.seconds() - started : nil
        }
        let took = Dictionary(uniqueKeysWithValues: zip(targets.map(\.label), times).compactMap { label, time in time.map { (label, $0) } })
        let stuck = targets.filter { took[$0.label] == nil }.map(\.name)
        guard stuck.isEmpty else { throw FaultError("no write through \(stuck.joined(separator: ", ")) succeeded within \(seconds) s") }
        return took
    }

    /// One successful unconditional SET of `/fault/probe/<label>` through `node` before `deadline`.
    private func probe(_ node: FaultNode, until deadline: Double) -> Bool {
        while Clock.seconds() < deadline {
            let timeout = min(2, max(0.1, deadline - Clock.seconds()))
            if write("\(Keys.root)/probe/\(node.label)", through: node, timeout: timeout) != nil { return true }
            usleep(100_000)
        }
        return false
    }

    /// An unconditional SET of a fresh value through `node` (recorded); its rev, nil if it did
    /// not succeed within `timeout`.
    func write(_ path: String, through node: FaultNode, timeout: Double) -> Int64? {
        guard let link = try? ClientLink.dial(node, timeout: min(timeout, 0.5)) else { return nil }
        defer { link.close() }
        let value = "p\(probes.add(1, ordering: .relaxed).newValue)"
        let call = HistoryOp.Call.set(path: path, value: value, rev: -1)
        if case .ok(let rev?, _) = recorder.record(call, on: link, { link.perform(call, timeout: timeout) }) { return rev }
        return nil
    }

    // MARK: The end

    /// SIGCONT and SIGKILL to every node still running; reaps them; removes the rules.
    func stopAll() {
        for node in nodes {
            node.resume()
            node.kill9()
        }
        firewall.remove()
    }
}
