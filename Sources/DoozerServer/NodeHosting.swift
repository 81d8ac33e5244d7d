import Dispatch
import DoozerConsensus
import DoozerLog
import DoozerNode
import DoozerStartup
import DoozerStore
import DoozerSystem

#if canImport(Glibc)
import Glibc
#endif

/// The server as its sequencer's host (`NodeHost`): the loop's clock and timers, the store and
/// the client answers, the catch-up copy on a background thread, the DzNS bookkeeping, and
/// stopping the node when its log fails or the cluster removed it.
extension Server: NodeHost {
    package var now: Int64 { loop.now }

    package func schedule(_ timer: NodeTimer, after delay: Int64) {
        schedule(Timer(timer), after: delay)
    }

    package func propose(_ mutation: [UInt8], bookkeeping what: StaticString) {
        propose(mutation, origin: .node(what))
    }

    /// The node became a member (booted through a DzNS, it names itself there, §5.7) or
    /// stopped being one.
    package func membershipChanged(isMember: Bool) {
        isWritable = isMember && storageFailure == nil
        if isMember, let bootURI {
            Boot.register(uri: bootURI, configuration: configuration, id: id, address: boundAddress.description, logger: logger)
        }
    }

    package func peersChanged(_ table: [PeerID: SocketAddress]) {
        streams.keep(only: table.values)
    }

    package func removedNode(_ id: String) {
        if let bootURI { Boot.forget(node: id, uri: bootURI, configuration: configuration, logger: logger) }   // B14
    }

    /// A write to the log failed: nothing after the store's revision is applied or
    /// acknowledged any more; the loop stops and `run` throws the failure (doozerd logs it
    /// as one line and exits with status 1).
    package func storageFailed(_ error: LogError) {
        guard storageFailure == nil else { return }
        storageFailure = StorageStopped(error: error, rev: store.rev)
        isWritable = false
        loop.stop()
    }

    package func leave(_ reason: String) {
        logger.critical("\(reason)")
        exit(1)
    }

    // MARK: Catching up

    /// Copies the state of the node at `address` on a background thread (the joiner's
    /// transfer), so the loop keeps serving reads; the loop polls for the outcome.
    package func copyState(from address: SocketAddress) {
        let copy = StateCopy()
        stateCopy = copy
        let configuration = configuration
        DispatchQueue.global().async {
            copy.finish(Result { try Attach.copyState(from: address.description, configuration: configuration) })
        }
        schedule(.stateCopy, after: 10_000_000)
    }

    func stateCopyTimer() {
        guard let copy = stateCopy else { return }
        guard let result = copy.take() else { return schedule(.stateCopy, after: 10_000_000) }
        stateCopy = nil
        cluster.stateCopied(result)
    }

    /// A restarted durable node: its store was recovered from the data directory (a snapshot
    /// and the log after it) and consensus replayed with it and its durable state restored.
    /// A member stands for election at once; a slave follows a member.
    func resume() {
        logger.info("resuming as \(id) at rev \(store.rev) from the data directory")
        isWritable = cluster.consensus.isMember
        cluster.resume()
    }
}

/// A state copy running on a background thread, its outcome handed to the loop.
final class StateCopy: Sendable {
    private let result = Guarded<Result<(Snapshot, Bootstrap), any Error>?>(nil)

    func finish(_ outcome: Result<(Snapshot, Bootstrap), any Error>) {
        result.withLock { $0 = outcome }
    }

    func take() -> Result<(Snapshot, Bootstrap), any Error>? {
        result.withLock { $0 }
    }
}

/// The log failed on its write path: the node stopped at `rev`, the last revision it applied
/// and acknowledged; nothing decided after it was acknowledged to anyone.
struct StorageStopped: Error, CustomStringConvertible {
    let error: LogError
    let rev: Int64

    var description: String {
        "\(error); stopped at rev \(rev): no later write was acknowledged (see the data directory's disk)"
    }
}
