/// What a history is made of and what it is checked against: the `Model` protocol (a
/// sequential specification, split into independent partitions), one recorded operation (`Op`), and
/// its `Outcome`.
///
/// DoozerHistory checks recorded client histories. `Linearizability.check` is a generic
/// linearizability checker (Wing and Gong's search with Lowe's just-in-time linearization and
/// memoization, one partition at a time); `DoozerChecks` records doozer client operations
/// (`ClientOp`) and checks them per path against doozer's semantics, plus the rules that span
/// paths and connections (revisions, reads at a revision, final state, read-your-writes,
/// monotonic reads, failed writes never applied).
///
/// Speed (release build, 2-core machine shared with other builds): a generated history of
/// 100,000 operations over 50 paths from 8 concurrent clients, 1% of them with an unknown
/// outcome, takes MEASURED_SPEED.
public protocol Model: Sendable {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    associatedtype State: Hashable & Sendable
    associatedtype Partition: Hashable & Sendable

    /// The state before any operation, in every partition.
    var initial: State { get }

    /// The independent part of the system an operation touches (for a store, its key). Each
    /// partition is checked on its own, which is sound when operations on different partitions
    /// never constrain each other (P-compositionality).
    func partition(of input: Input) -> Partition

    /// Every state the operation may leave behind when applied to `state` and answering
    /// `output`; none when it cannot have answered that from `state`. `output` is nil when the
    /// outcome is unknown: return the states it leads to if it took effect ("no effect" is the
    /// checker's to add). When the exact search runs out of budget, such operations may be
    /// applied again and again, so taking effect twice should lead back to states already
    /// reached (a write of a value does; a counter's increment does not, and only spends budget).
    func step(_ state: State, _ input: Input, _ output: Output?) -> [State]
}

/// How an operation ended: answered at a time, or unknown (the connection closed, a timeout),
/// in which case it may or may not have taken effect, at any time after it was invoked.
public enum Outcome<Output: Sendable>: Sendable {
    case returned(Output, at: Int64)
    case unknown

    /// The answer, nil when the outcome is unknown.
    public var output: Output? {
        if case .returned(let output, _) = self { return output }
        return nil
    }

    /// When the answer arrived, nil when the outcome is unknown.
    public var completed: Int64? {
        if case .returned(_, let at) = self { return at }
        return nil
    }
}

extension Outcome: Equatable where Output: Equatable {}
extension Outcome: Hashable where Output: Hashable {}

/// One recorded operation: invoked at a time (any monotonic clock, e.g. nanoseconds), then
/// answered or not. An operation precedes another when it was answered strictly before the
/// other was invoked; equal times count as concurrent.
public struct Op<Input: Sendable, Output: Sendable>: Sendable {
    public var input: Input
    public var invoked: Int64
    public var outcome: Outcome<Output>

    public init(_ input: Input, invoked: Int64, outcome: Outcome<Output>) {
        self.input = input
        self.invoked = invoked
        self.outcome = outcome
    }
}
