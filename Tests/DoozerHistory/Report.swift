/// What the doozer checks report: a `Finding` per problem (which check, which path, which
/// operations, readable lines) and the `HistoryReport` gathering them.

/// The checks `DoozerChecks` runs.
public enum Check: String, Sendable {
    case wellFormed = "well-formed"
    case linearizability
    case revisions
    case readsAtRevisions = "reads at a revision"
    case finalState = "final state"
    case readYourWrites = "read your writes"
    case monotonicReads = "monotonic reads"
    case failedWrites = "failed writes"
}

/// One problem a check found (or, for an undecided linearizability search, where it stopped).
public struct Finding: Sendable, CustomStringConvertible {
    public let check: Check
    /// The path concerned, nil for a finding across paths.
    public let path: String?
    /// The history indices involved, the one the finding is about first.
    public let operations: [Int]
    /// A summary, then details (each operation as `#index session [invoked, answered] ...`).
    public let lines: [String]

    init(_ check: Check, path: String?, operations: [Int], lines: [String]) {
        assert(!lines.isEmpty)
        self.check = check
        self.path = path
        self.operations = operations
        self.lines = lines
    }

    /// A summary followed by the operations, one a line.
    init(_ check: Check, path: String?, _ summary: String, _ operations: [Int], in history: [ClientOp]) {
        self.init(check, path: path, operations: operations,
                  lines: [summary] + operations.map { "  " + describe($0, history) })
    }

    public var description: String { "[\(check.rawValue)] " + lines.joined(separator: "\n") }
}

/// `#index` and the operation.
func describe(_ index: Int, _ history: [ClientOp]) -> String { "#\(index) \(history[index])" }

/// Everything the checks found in one history.
public struct HistoryReport: Sendable, CustomStringConvertible {
    public let operations: Int
    public let violations: [Finding]
    /// Paths whose linearizability search ran out of budget: neither shown right nor wrong.
    public let undecided: [Finding]

    /// No check found a violation (undecided paths aside).
    public var isValid: Bool { violations.isEmpty }

    /// Findings shown in `description`; the rest are counted.
    public static let shownFindings = 12

    public var description: String {
        var out = ["\(operations) operations: \(violations.count) violations, \(undecided.count) undecided paths"]
        let all = violations + undecided
        out += all.prefix(Self.shownFindings).map(\.description)
        if all.count > Self.shownFindings { out.append("... and \(all.count - Self.shownFindings) more") }
        return out.joined(separator: "\n")
    }
}
