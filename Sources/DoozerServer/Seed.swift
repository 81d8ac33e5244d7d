import DoozerNode
import DoozerStartup
import DoozerDurability
import DoozerSnapshot
import DoozerStore
import DoozerSystem
import Logging

extension Server {
    /// Revisions a new cluster fills with no-ops before its first consensus-decided write
    /// (the original's consensus window, α).
    static let initialNoOps = 50

    /// Writes the start-up layout of a new cluster with this node as its only member
    /// (spec §3.12, §5.2): name, node info, CAL slot 0, name-service entry and 50 no-ops,
    /// applied locally (not via consensus); then proposes `writable` and the first pulse.
    /// A store restored from a snapshot (`-restore`) first loses the former cluster's
    /// bookkeeping (`formerClusterRemovals`), so this node is its only member.
    func seedNewCluster() {
        let address = Array(boundAddress.description.utf8)
        let layout = Server.formerClusterRemovals(in: store.current) + [
            Mutation.set(Array("/ctl/name".utf8), rev: -1, body: Array(configuration.clusterName.utf8)),
            Mutation.set(nodePath("addr"), rev: -1, body: address),
            Mutation.set(nodePath("hostname"), rev: -1, body: Array((ProcessEnvironment.hostName() ?? "unknown").utf8)),
            Mutation.set(nodePath("version"), rev: -1, body: Array(Configuration.version.utf8)),
            Mutation.set(Array("/ctl/cal/0".utf8), rev: -1, body: id.bytes),
        ]
            // A seed booted through a DzNS is named there, not in its own tree (§3.12).
            + (bootURI == nil ? [Mutation.set(Array("/ctl/ns/\(configuration.clusterName)/\(id)".utf8), rev: -1, body: address)] : [])
            + Array(repeating: Mutation.nop, count: Server.initialNoOps)
        if let nodeLog {
            do { try nodeLog.recordLayout(layout, origin: cluster.me) } catch { return storageFailed(error) }
        }
        for mutation in layout { applyDecided(mutation, proposal: nil) }
        cluster.startSeed()
        isWritable = true
        // Decided and applied at once (the seed leads alone): `writable` first, then the
        // first pulse, which reports the revision that includes it.
        propose(Mutation.set(nodePath("writable"), rev: 0, body: Array("true".utf8)), origin: .node("writable"))
        cluster.pump()
        pulse()
        cluster.pump()
    }

    /// What a restored tree keeps of the cluster it was saved from: everything but that
    /// cluster's bookkeeping. Deletes every file under `/ctl/node` and empties every slot
    /// under `/ctl/cal` (the cluster keeps its size: nodes that attach claim them), and
    /// deletes the DzNS records that name one of its nodes (`/ctl/ns/<cluster>/<id>`,
    /// `/ctl/boot/<cluster>` owned by one), so neither this node nor a client looking a name
    /// up is sent to the former cluster. Nothing for an empty tree.
    static func formerClusterRemovals(in tree: Snapshot) -> [[UInt8]] {
        var removals: [[UInt8]] = []
        var formerNodes: Set<[UInt8]> = []
        tree.forEachFile(under: "/ctl/node") { path, _, rev in
            removals.append(Mutation.delete(path, rev: rev))
            let parts = path.split(separator: UInt8(ascii: "/"))
            if parts.count > 2 { formerNodes.insert(Array(parts[2])) }
        }
        tree.forEachFile(under: "/ctl/cal") { path, body, rev in
            guard !body.isEmpty else { return }
            removals.append(Mutation.set(path, rev: rev, body: []))
            formerNodes.insert(body)
        }
        tree.forEachFile(under: "/ctl/ns") { path, _, rev in
            let parts = path.split(separator: UInt8(ascii: "/"))
            if parts.count == 4, formerNodes.contains(Array(parts[3])) { removals.append(Mutation.delete(path, rev: rev)) }
        }
        tree.forEachFile(under: "/ctl/boot") { path, body, rev in
            if formerNodes.contains(body) { removals.append(Mutation.delete(path, rev: rev)) }
        }
        return removals
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
