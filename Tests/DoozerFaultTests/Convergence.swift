// After the last heal: every node reaches the final write, holds the same tree there, and its
// own history of /fault agrees with the event log the run followed.

import DoozerHistory
import DoozerWire
import Foundation

/// Compares the nodes with each other and with the event log; owns what it found.
struct Convergence {
    /// One node's view at the final rev.
    struct View {
        let node: FaultNode
        /// Every file at the final rev.
        var tree: [String: Version] = [:]
        var rev: Int64 = 0
        /// The first rev of /fault history it still keeps (the run's first, unless it started
        /// from a copy of another node's state since).
        var historyFrom: Int64 = 0
        var problems: [String] = []
    }

    let finalRev: Int64
    let log: EventLog
    private(set) var views: [View] = []

    init(finalRev: Int64, log: EventLog) {
        self.finalRev = finalRev
        self.log = log
    }

    /// Reads every node (in parallel) and compares.
    mutating func run(_ nodes: [FaultNode]) -> [String] {
        let (finalRev, log) = (self.finalRev, self.log)
        views = inParallel(nodes.count) { i in Self.inspect(nodes[i], finalRev: finalRev, log: log) }
        var anomalies = views.flatMap { view in view.problems.map { "\(view.node.name): \($0)" } }
        for view in views.dropFirst() where view.problems.isEmpty && view.tree != views[0].tree {
            anomalies.append("\(view.node.name) differs from \(views[0].node.name) at rev \(finalRev): \(difference(view.tree, views[0].tree))")
        }
        return anomalies
    }

    private func difference(_ a: [String: Version], _ b: [String: Version]) -> String {
        let paths = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
        return paths.prefix(5).map { "\($0): \(a[$0].map(\.description) ?? "missing") vs \(b[$0].map(\.description) ?? "missing")" }
            .joined(separator: "; ")
    }

    private static func inspect(_ node: FaultNode, finalRev: Int64, log: EventLog) -> View {
        var view = View(node: node)
        do {
            let link = try ClientLink.dial(node, timeout: 2)
            defer { link.close() }
            // A read at the final rev parks until the node applied it.
            _ = try link.call(Request(verb: .get, path: "\(Keys.root)/final", rev: finalRev), timeout: 15)
            view.rev = try link.rev(timeout: 5)
            if view.rev < finalRev { view.problems.append("REV \(view.rev) below the final write's \(finalRev)") }
            view.tree = try walk(link, at: finalRev)
            view.historyFrom = try oldestHistory(link, log: log)
            view.problems += try compareHistory(link, from: view.historyFrom, log: log)
        } catch {
            view.problems.append("could not be read: \(error)")
        }
        return view
    }

    /// WALK `/**` at `rev`: every file's body and rev.
    private static func walk(_ link: ClientLink, at rev: Int64) throws -> [String: Version] {
        var tree: [String: Version] = [:]
        for offset in Int32(0)... {
            let response = try link.call(Request(verb: .walk, path: "/**", offset: offset, rev: rev), timeout: 5)
            if response.errCode == ErrorCode.range.rawValue { break }
            guard response.errCode == nil, let path = response.path else { throw FaultError("WALK at \(rev): \(response)") }
            tree[path] = Version(Body(response.value ?? []), rev: response.rev ?? 0)
        }
        return tree
    }

    /// The first rev from which the node still answers WAITs (binary search between the log's
    /// first and last rev: before it, TOO_LATE).
    private static func oldestHistory(_ link: ClientLink, log: EventLog) throws -> Int64 {
        var (low, high) = (log.firstRev, log.lastRev)
        while low < high {
            let middle = (low + high) / 2
            if try waitEvent(link, from: middle) == nil { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The node's /fault events from `from` through the log's last rev equal the log's.
    private static func compareHistory(_ link: ClientLink, from: Int64, log: EventLog) throws -> [String] {
        let expected = log.byRev.values.filter { $0.rev >= from }.sorted { $0.rev < $1.rev }
        var rev = from
        for logged in expected {
            guard let event = try waitEvent(link, from: rev) else { return ["history from rev \(rev) dropped while it was read"] }
            guard event == logged else { return ["its history has \(event.brief) where the run saw \(logged.brief)"] }
            rev = event.rev + 1
        }
        return []
    }

    /// The first /fault event at or after `rev` (nil: TOO_LATE).
    private static func waitEvent(_ link: ClientLink, from rev: Int64) throws -> LoggedEvent? {
        let response = try link.call(Request(verb: .wait, path: EventTail.glob, rev: rev), timeout: 5)
        if response.errCode == ErrorCode.tooLate.rawValue { return nil }
        guard response.errCode == nil else { throw FaultError("WAIT \(EventTail.glob) at \(rev): \(response)") }
        return LoggedEvent(rev: response.rev ?? 0, path: response.path ?? "", flags: response.flags ?? 0, body: response.value ?? [])
    }
}
