// What the clients of a fault run did and saw: one record per operation, with its invoke and
// completion times on the monotonic clock, the connection it used, its input and its output.
// A broken or timed-out call is "unknown", never "not written".

import DoozerWire
import Foundation
import Synchronization

/// One client operation of a fault run. A plain value; `HistoryChecks` reads them.
struct HistoryOp: Sendable {
    /// The request.
    enum Call: Sendable, Equatable {
        /// SET `value` at condition `rev`: -1 unconditional, 0 create only, r > 0 compare-and-set.
        case set(path: String, value: String, rev: Int64)
        /// DEL at condition `rev` (-1 unconditional).
        case del(path: String, rev: Int64)
        /// GET at `rev` (nil: the node's latest state).
        case get(path: String, rev: Int64?)

        var path: String {
            switch self {
            case .set(let path, _, _), .del(let path, _), .get(let path, _): return path
            }
        }
    }

    /// What came back.
    enum Outcome: Sendable, Equatable {
        /// Success: SET's new rev; GET's file rev (0: missing) and body; DEL carries neither.
        case ok(rev: Int64?, value: String?)
        /// A definite error: the server answered this code and the write was not applied.
        case failed(ErrorCode, detail: String?)
        /// The connection broke or the deadline passed, or the server said it lost track: the
        /// write may or may not have been applied.
        case unknown(String)
    }

    /// Position in the run's history (invocation order across all connections).
    let index: Int
    /// The `ClientLink` id (one TCP connection).
    let connection: Int
    /// The node it talked to (its label).
    let node: String
    let invoke: UInt64
    let complete: UInt64
    let call: Call
    let outcome: Outcome

    var isWrite: Bool {
        if case .get = call { return false }
        return true
    }
}

/// The run's history: every thread appends its finished operations here. Thread-safe.
final class HistoryRecorder: Sendable {
    private let state = Mutex<(next: Int, ops: [HistoryOp], unknown: Int, acknowledgedWrites: Int)>((0, [], 0, 0))

    /// Performs `body` as one operation of `link`, timed around it, and records it.
    @discardableResult
    func record(_ call: HistoryOp.Call, on link: ClientLink, _ body: () -> HistoryOp.Outcome) -> HistoryOp.Outcome {
        let index = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        let invoke = Clock.nanoseconds()
        let outcome = body()
        let op = HistoryOp(index: index, connection: link.id, node: link.node.label, invoke: invoke,
                           complete: Clock.nanoseconds(), call: call, outcome: outcome)
        state.withLock { state in
            state.ops.append(op)
            switch (op.isWrite, outcome) {
            case (_, .unknown): state.unknown += 1
            case (true, .ok): state.acknowledgedWrites += 1
            default: break
            }
        }
        return outcome
    }

    /// How many operations so far ended with an unknown outcome.
    var unknownCount: Int { state.withLock { $0.unknown } }
    /// How many writes so far were acknowledged.
    var acknowledgedWrites: Int { state.withLock { $0.acknowledgedWrites } }

    /// Every operation recorded, in invocation order.
    var operations: [HistoryOp] { state.withLock { $0.ops }.sorted { $0.invoke < $1.invoke } }
}

extension ClientLink {
    /// Performs `call` within `timeout` seconds and classifies the answer for the history.
    func perform(_ call: HistoryOp.Call, timeout: Double) -> HistoryOp.Outcome {
        let request: Request
        switch call {
        case .set(let path, let value, let rev): request = Request(verb: .set, path: path, value: Array(value.utf8), rev: rev)
        case .del(let path, let rev): request = Request(verb: .del, path: path, rev: rev)
        case .get(let path, let rev): request = Request(verb: .get, path: path, rev: rev)
        }
        let response: Response
        do {
            response = try self.call(request, timeout: timeout)
        } catch {
            return .unknown(error == .waitTimeout ? "no answer within \(timeout) s" : "\(error)")
        }
        guard let raw = response.errCode else {
            return .ok(rev: response.rev, value: response.value.map { String(decoding: $0, as: UTF8.self) })
        }
        let detail = response.errDetail
        guard let code = ErrorCode(rawValue: raw) else { return .unknown("unknown error code \(raw)") }
        if code == .other, detail?.hasPrefix("outcome unknown") == true { return .unknown(detail!) }
        return .failed(code, detail: detail)
    }
}
