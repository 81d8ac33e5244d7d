import DoozerSystem

/// A storage call that failed: which call, on which file. Once the log has seen one on its
/// write path it is failed for good (see `RecordLog`).
public struct LogFailure: Error, Sendable, CustomStringConvertible {
    public let error: SystemError
    public let path: String

    public init(_ error: SystemError, path: String) {
        self.error = error
        self.path = path
    }

    public var description: String { "\(error.call) on \(path) failed: \(error.errno)" }
}

/// Why the log refused an operation or could not be opened.
public enum LogError: Error, Sendable, CustomStringConvertible {
    /// A storage call failed: while opening, or earlier on the write path (the log is failed
    /// and accepts no more records; nothing after its durable index was persisted).
    case storage(LogFailure)
    /// Recovery found damage that is not a torn tail: `file` at byte `offset` does not hold
    /// what it should (`expected`). The log cannot be opened until the file is repaired.
    case corrupt(file: String, offset: Int, expected: String)
    /// One record's payload is larger than a segment can hold.
    case recordTooLarge(bytes: Int, limit: Int)
    /// Backpressure: appended-but-not-durable bytes would pass `LogOptions.maxPendingBytes`.
    /// Nothing was appended; retry after the next completion.
    case pendingLimit(pendingBytes: Int, limit: Int)
    /// The options cannot work (e.g. a segment too small for its header).
    case invalidOptions(String)
    /// `close()` was called.
    case closed

    public var description: String {
        switch self {
        case .storage(let failure):
            "log storage error: \(failure)"
        case .corrupt(let file, let offset, let expected):
            "log file \(file) is corrupt at byte offset \(offset): expected \(expected)"
        case .recordTooLarge(let bytes, let limit):
            "log record of \(bytes) bytes is larger than a segment holds (\(limit) bytes)"
        case .pendingLimit(let pending, let limit):
            "log has \(pending) bytes waiting to be synced; the limit is \(limit)"
        case .invalidOptions(let reason):
            "invalid log options: \(reason)"
        case .closed:
            "log is closed"
        }
    }
}
