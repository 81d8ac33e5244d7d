import DoozerNode
import DoozerStartup
import DoozerDurability
import DoozerSnapshot
import DoozerStore
import DoozerSystem
import Logging

extension Server {
    /// Writes the start-up layout of a new cluster with this node as its only member
    /// (`ClusterLayout.seed`), applied locally (not via consensus); then the sequencer leads
    /// and proposes `writable` and the first pulse. A store restored from a snapshot
    /// (`-restore`) first loses the former cluster's bookkeeping, so this node is its only
    /// member.
    func seedNewCluster() {
        let layout = ClusterLayout.formerClusterRemovals(in: store.current)
            + ClusterLayout.seed(clusterName: configuration.clusterName, id: id.bytes, address: boundAddress.description,
                                 hostname: ProcessEnvironment.hostName() ?? "unknown", version: Configuration.version,
                                 namedInOwnTree: bootURI == nil)
        if let nodeLog {
            do { try nodeLog.recordLayout(layout, origin: cluster.me) } catch { return storageFailed(error) }
        }
        for mutation in layout { applyDecided(mutation, proposal: nil) }
        isWritable = true
        cluster.startSeed()
    }

    /// Reads the snapshot `-restore` names, before anything is bound: the tree, or one line
    /// naming the file and what is wrong with it (where, for a damaged stream).
    static func restoredTree(_ path: String, logger: Logger) throws(RestoreError) -> Snapshot {
        let tree: Snapshot
        do {
            tree = try SnapshotFile.read(path)
        } catch {
            throw RestoreError(description: "cannot restore (-restore): \(error)")
        }
        var files = 0
        tree.forEachFile(under: "/") { _, _, _ in files += 1 }
        logger.info("restoring \(path): rev \(tree.rev), \(files) files; this node starts a new cluster from it as its only member")
        return tree
    }
}

/// Why `-restore` cannot start the node; one line for the log.
struct RestoreError: Error, CustomStringConvertible {
    let description: String
}
