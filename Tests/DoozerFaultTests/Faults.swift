// The faults of a run, drawn from one seeded generator: which kind comes next (every kind once
// per cycle, in a random order), which nodes it hits, how hard and for how long.

import DoozerTestSupport
import Foundation

/// The kinds of fault a round can inject.
enum FaultKind: String, CaseIterable {
    /// One member cut off from every other node (both directions).
    case isolate
    /// The four nodes split into two pairs that cannot reach each other.
    case split
    /// A member that can send but not receive, or receive but not send.
    case oneWay = "one-way"
    /// Random loss (20–60 %) on a few directed paths between members (a slave exchanges
    /// packets with one member only, so a path to it would often carry nothing).
    case loss
    /// One node stopped with SIGSTOP, then SIGCONT.
    case pause
    /// One node killed with SIGKILL, then started again with the same command line.
    case kill
    /// Every node killed with SIGKILL at once, then all started again.
    case killAll = "kill-all"
}

/// One fault, fully decided: what to drop, stop or kill, and for how long.
struct Fault {
    let kind: FaultKind
    var rules: [DropRule] = []
    var paused: [FaultNode] = []
    var killed: [FaultNode] = []
    /// Seconds it lasts before the heal.
    let hold: Double
    let description: String
}

/// Draws the run's faults: owns the generator and the current cycle of kinds.
struct FaultPlanner {
    /// Where a partitioned node's catch-up copies come from (the kernel's default source).
    static let defaultSource = "127.0.0.1"

    private var random: SplitMix64
    private var cycle: [FaultKind] = []

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func next(_ nodes: [FaultNode]) -> Fault {
        if cycle.isEmpty { cycle = shuffled(FaultKind.allCases) }
        let kind = cycle.removeFirst()
        let hold = kind == .killAll ? 0.2 + Double(random.below(9)) / 10 : 1 + Double(random.below(21)) / 10
        switch kind {
        case .isolate: return isolate(random.pick(nodes.filter(\.isMember)), from: nodes, hold: hold)
        case .split: return split(nodes, hold: hold)
        case .oneWay: return oneWay(nodes, hold: hold)
        case .loss: return loss(nodes, hold: hold)
        case .pause:
            let node = random.pick(nodes)
            return Fault(kind: kind, paused: [node], hold: hold, description: "SIGSTOP \(node.name)")
        case .kill:
            let node = random.pick(nodes)
            return Fault(kind: kind, killed: [node], hold: hold, description: "kill -9 \(node.name)")
        case .killAll:
            return Fault(kind: kind, killed: nodes, hold: hold, description: "kill -9 every node")
        }
    }

    private func isolate(_ node: FaultNode, from nodes: [FaultNode], hold: Double) -> Fault {
        let others = nodes.filter { $0 !== node }.map(\.host) + [Self.defaultSource]
        return Fault(kind: .isolate, rules: cut([node.host], others), hold: hold, description: "isolate \(node.name)")
    }

    private mutating func split(_ nodes: [FaultNode], hold: Double) -> Fault {
        let order = shuffled(nodes)
        let (left, right) = (Array(order.prefix(2)), Array(order.suffix(2)))
        let rules = cut(left.map(\.host), right.map(\.host)) + cut(nodes.map(\.host), [Self.defaultSource])
        return Fault(kind: .split, rules: rules, hold: hold,
                     description: "split {\(left.map(\.label).joined(separator: ","))} | {\(right.map(\.label).joined(separator: ","))}")
    }

    /// A member that hears nothing from the other nodes while they hear it, or the reverse
    /// (whoever leads, the member's traffic with it is cut in one direction).
    private mutating func oneWay(_ nodes: [FaultNode], hold: Double) -> Fault {
        let member = random.pick(nodes.filter(\.isMember))
        let others = nodes.filter { $0 !== member }.map(\.host) + [Self.defaultSource]
        if random.below(2) == 0 {
            return Fault(kind: .oneWay, rules: others.map { DropRule(from: $0, to: member.host) }, hold: hold,
                         description: "\(member.label) sends to every node but receives nothing")
        }
        return Fault(kind: .oneWay, rules: others.map { DropRule(from: member.host, to: $0) }, hold: hold,
                     description: "\(member.label) receives from every node but sends nothing")
    }

    private mutating func loss(_ nodes: [FaultNode], hold: Double) -> Fault {
        let members = nodes.filter(\.isMember)
        let paths = members.flatMap { from in members.filter { $0 !== from }.map { (from, $0) } }
        let chosen = shuffled(paths).prefix(2 + random.below(3))
        let rules = chosen.map { DropRule(from: $0.0.host, to: $0.1.host, percent: 20 + random.below(41)) }
        let text = zip(chosen, rules).map { "\($0.0.0.label)->\($0.0.1.label) \($0.1.percent)%" }.joined(separator: ", ")
        return Fault(kind: .loss, rules: rules, hold: hold, description: "random loss \(text)")
    }

    /// Every packet between a host of `a` and a host of `b`, both ways.
    private func cut(_ a: [String], _ b: [String]) -> [DropRule] {
        a.flatMap { x in b.flatMap { y in [DropRule(from: x, to: y), DropRule(from: y, to: x)] } }
    }

    private mutating func shuffled<T>(_ elements: [T]) -> [T] {
        var result = elements
        for i in stride(from: result.count - 1, to: 0, by: -1) { result.swapAt(i, random.below(i + 1)) }
        return result
    }
}
