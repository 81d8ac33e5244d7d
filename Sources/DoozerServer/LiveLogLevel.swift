import Logging
import Synchronization

/// The process's log level: `-loglevel` sets it, and SIGUSR1 raises it to `debug` (`trace`
/// when it is `debug` already) and, sent again, sets it back, while the node runs. One per
/// process, as logging is; read on every log call, from any thread.
public final class LiveLogLevel: Sendable {
    public static let shared = LiveLogLevel()

    private let current = Atomic<Int>(LiveLogLevel.index(.info))
    private let configured = Atomic<Int>(LiveLogLevel.index(.info))

    public var level: Logger.Level { Logger.Level.allCases[current.load(ordering: .relaxed)] }
    public var configuredLevel: Logger.Level { Logger.Level.allCases[configured.load(ordering: .relaxed)] }

    /// The level `-loglevel` asked for, in force from now on.
    public func configure(_ level: Logger.Level) {
        configured.store(Self.index(level), ordering: .relaxed)
        current.store(Self.index(level), ordering: .relaxed)
    }

    /// Whether SIGUSR1 raised the level (the next one sets it back).
    public var isRaised: Bool { current.load(ordering: .relaxed) != configured.load(ordering: .relaxed) }

    /// SIGUSR1: the raised level when at the configured one, else the configured one.
    public func toggle() {
        let base = configured.load(ordering: .relaxed)
        current.store(isRaised ? base : Self.index(raised(from: Logger.Level.allCases[base])), ordering: .relaxed)
    }

    /// The level SIGUSR1 raises `level` to.
    public func raised(from level: Logger.Level) -> Logger.Level { level > .debug ? .debug : .trace }

    private static func index(_ level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level)! }
}

/// Log lines on standard error, at `LiveLogLevel.shared`'s level whatever a logger sets.
public struct LiveLevelLogHandler: LogHandler {
    private var stream: StreamLogHandler

    public init(label: String) {
        stream = .standardError(label: label)
        stream.logLevel = .trace   // the filtering is `logLevel`'s, below
    }

    public var logLevel: Logger.Level {
        get { LiveLogLevel.shared.level }
        set {}   // one level for the process: `LiveLogLevel` sets it
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) { stream.log(event: event) }
}
