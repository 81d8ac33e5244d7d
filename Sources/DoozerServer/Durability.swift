import DoozerLog

/// The durable node's side of the write path (`-data`): decided batches reach the store only
/// through `logCompleted`, after their fdatasync; a storage failure stops the node.
extension Server {
    /// The log's eventfd fired: applies (and so answers) every batch now durable, in order.
    func logCompleted() {
        guard let nodeLog, storageFailure == nil else { return }
        do {
            for held in try nodeLog.takeDurable() { cluster.apply(held.instance, held.batch) }
        } catch {
            return storageFailed(error)
        }
        if let failure = nodeLog.newPreparationFailure() {
            logger.warning("log segment preparation stopped: \(failure); new segments are allocated as they start")
        }
        cluster.pump()
    }

    /// A write to the log failed: nothing after the store's revision is applied or
    /// acknowledged any more; the loop stops and `run` throws the failure (doozerd logs it
    /// as one line and exits with status 1).
    func storageFailed(_ error: LogError) {
        guard storageFailure == nil else { return }
        storageFailure = StorageStopped(error: error, rev: store.rev)
        isWritable = false
        loop.stop()
    }

    /// A restarted durable node: its store was replayed from the log and consensus starts
    /// after the last logged instance; it leads its cluster of one again.
    func resumeSeed() {
        logger.info("resuming as \(id) at rev \(store.rev) from the data directory")
        cluster.startSeed()
        isWritable = true
        pulse()
        cluster.pump()
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
