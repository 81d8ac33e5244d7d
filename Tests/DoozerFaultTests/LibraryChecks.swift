// The same run through the DoozerHistory library: each `HistoryOp` becomes its `ClientOp`, each
// node's tree at the final revision a `StoreView`, and `DoozerChecks` adds its per-path
// linearizability search of the writes and its checks of reads, sessions and the final state
// to the event-log checks of `HistoryChecks`.

import DoozerClient
import DoozerHistory
import DoozerWire

/// Runs `DoozerChecks` over a fault run's history.
enum LibraryChecks {
    /// Plain GETs are answered from the node's own state in doozer, so they are not required
    /// to be linearizable (only reads at a revision, sessions and the final state are checked).
    static let options = DoozerChecks.Options(linearizableReads: false)

    /// `final`: each node's files once healed (at the run's final revision).
    static func run(_ ops: [HistoryOp], final: [StoreView]) -> HistoryReport {
        DoozerChecks.check(ops.map(\.clientOp), final: final, options: options)
    }
}

extension HistoryOp {
    /// This operation as the library records one.
    var clientOp: ClientOp {
        ClientOp(session: connection, path: call.path, request, invoked: Int64(invoke), outcome: answer)
    }

    private var request: ClientOp.Request {
        switch call {
        case .set(_, let value, let rev): return .set(Body(value), cond: rev)
        case .del(_, let rev): return .del(cond: rev)
        case .get(_, let rev): return .get(at: rev)
        }
    }

    private var answer: DoozerHistory.Outcome<ClientOp.Reply> {
        let at = Int64(complete)
        switch (call, outcome) {
        case (_, .unknown): return .unknown
        case (_, .failed(.revMismatch, _)): return .returned(.revMismatch, at: at)
        case (_, .failed(let code, _)): return .returned(.failed(code.protocolName), at: at)
        case (.get, .ok(let rev, let value)): return .returned(.found(Version(Body(value ?? ""), rev: rev ?? 0)), at: at)
        case (.set, .ok(let rev, _)): return .returned(.written(rev: rev ?? 0), at: at)
        case (.del, .ok): return .returned(.deleted, at: at)
        }
    }
}
