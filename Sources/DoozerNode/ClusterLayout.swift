import DoozerStore

/// The bookkeeping tree a new cluster starts from (spec §3.12, §5.2), as mutations applied
/// in order at instance 0, outside consensus. Pure: the server's seed and the simulation's
/// lay out the same tree from the same function.
package enum ClusterLayout {
    /// Revisions a new cluster fills with no-ops before its first consensus-decided write
    /// (the original's consensus window, α).
    package static let initialNoOps = 50

    /// A new cluster with node `id` (at `address`) as its only member: name, node info, CAL
    /// slot 0, the name-service entry (unless the seed booted through a DzNS, which names it
    /// instead: `namedInOwnTree` false) and the no-ops.
    package static func seed(clusterName: String, id: [UInt8], address: String, hostname: String, version: String,
                             namedInOwnTree: Bool) -> [[UInt8]] {
        let node = "/ctl/node/" + String(decoding: id, as: UTF8.self) + "/"
        return [
            Mutation.set(Array("/ctl/name".utf8), rev: -1, body: Array(clusterName.utf8)),
            Mutation.set(Array((node + "addr").utf8), rev: -1, body: Array(address.utf8)),
            Mutation.set(Array((node + "hostname").utf8), rev: -1, body: Array(hostname.utf8)),
            Mutation.set(Array((node + "version").utf8), rev: -1, body: Array(version.utf8)),
            Mutation.set(Array("/ctl/cal/0".utf8), rev: -1, body: id),
        ]
            + (namedInOwnTree
                ? [Mutation.set(Array("/ctl/ns/\(clusterName)/".utf8) + id, rev: -1, body: Array(address.utf8))] : [])
            + Array(repeating: Mutation.nop, count: initialNoOps)
    }

    /// What a restored tree keeps of the cluster it was saved from: everything but that
    /// cluster's bookkeeping. Deletes every file under `/ctl/node` and empties every slot
    /// under `/ctl/cal` (the cluster keeps its size: nodes that attach claim them), and
    /// deletes the DzNS records that name one of its nodes (`/ctl/ns/<cluster>/<id>`,
    /// `/ctl/boot/<cluster>` owned by one), so neither this node nor a client looking a name
    /// up is sent to the former cluster. Nothing for an empty tree.
    package static func formerClusterRemovals(in tree: Snapshot) -> [[UInt8]] {
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

}
