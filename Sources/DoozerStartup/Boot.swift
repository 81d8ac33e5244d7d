import Dispatch
import DoozerClient
import DoozerDurability
import DoozerSystem
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Booting through a DzNS (`-b` / `DOOZER_BOOT_URI`, §5.7), with the original's stale-entry
/// trap fixed (B14). Blocking and bounded; runs before the node serves anything.
///
/// In the DzNS, `/ctl/ns/<cluster>/<id>` names the cluster's members (their addresses) and
/// `/ctl/boot/<cluster>` the seed of the current incarnation. A booting node attaches to the
/// members named there; when none is named it stands for seed: it writes its own `ns` entry,
/// then the boot record (rev 0, so exactly one node wins). Losers attach to the winner and
/// remove their entry. Entries whose nodes do not answer are stale (a cluster that was
/// stopped): they are removed, each conditional on the rev it was read at, and the boot is
/// tried again — so a full restart of a DzNS-booted cluster needs no manual clean-up.
package enum Boot {
    package enum Outcome {
        case seed
        case joined(JoinedCluster)
    }

    /// How long a loser keeps trying to attach to the winner, which may still be starting.
    package static let attachWindow: Duration = .seconds(6)
    package static let attempts = 4

    package static func run(uri: String, configuration: Configuration, id: NodeID, boundAddress: SocketAddress,
                    logger: Logger) throws -> Outcome {
        let dzns = try DoozerClient(uri: uri, timeout: .seconds(2))
        defer { dzns.close() }
        if !configuration.readWriteSecret.isEmpty { try dzns.access(configuration.readWriteSecret) }
        let names = Names(cluster: configuration.clusterName, id: id)
        for _ in 0..<attempts {
            // Members named: attach to one of them.
            let named = try lookup(dzns, names)
            if !named.entries.isEmpty {
                if let joined = try? attach(to: named, configuration: configuration, id: id, boundAddress: boundAddress) {
                    return .joined(joined)
                }
                logger.notice("no member named in the DzNS for \(configuration.clusterName) answers; removing those stale entries")
                removeStale(named, names, from: dzns)
                continue
            }
            // None: stand for seed.
            let ownRev = try dzns.set(names.own, rev: 0, body: Array(boundAddress.description.utf8))
            if try win(dzns, names, id: id) {
                logger.info("won the DzNS election for \(configuration.clusterName): seeding it")
                return .seed
            }
            do {
                // Another node is seed: attach to it (it may still be starting).
                let deadline = ContinuousClock.now + attachWindow
                while ContinuousClock.now < deadline {
                    var others = try lookup(dzns, names)
                    others.entries.removeAll { $0.path == names.own }
                    if !others.entries.isEmpty,
                       let joined = try? attach(to: others, configuration: configuration, id: id, boundAddress: boundAddress) {
                        try? dzns.del(names.own, rev: ownRev)
                        return .joined(joined)
                    }
                    if others.bootOwner == nil { break }   // the seed gave up: elect again
                    usleep(50_000)   // the winner is still starting
                }
                try? dzns.del(names.own, rev: ownRev)
                let stale = try lookup(dzns, names)
                logger.notice("the DzNS boot record for \(configuration.clusterName) names no node that answers; removing it")
                removeStale(stale, names, from: dzns)
            }
        }
        throw AttachError(description: "failed to boot through the DzNS: no member answered and the election did not settle")
    }

    /// Writes the boot record (rev 0): true if this node won, false if another holds it.
    private static func win(_ dzns: DoozerClient, _ names: Names, id: NodeID) throws(DoozerError) -> Bool {
        do {
            _ = try dzns.set(names.boot, rev: 0, body: id.bytes)
            return true
        } catch {
            guard error.code == .revMismatch else { throw error }
            return false
        }
    }

    /// Removes this node's own `ns` entry from the DzNS (clean shutdown, B14); bounded.
    package static func unregister(uri: String, configuration: Configuration, id: NodeID, ownsBootRecord: Bool) throws {
        let dzns = try DoozerClient(uri: uri, timeout: .seconds(1))
        defer { dzns.close() }
        if !configuration.readWriteSecret.isEmpty { try dzns.access(configuration.readWriteSecret) }
        let names = Names(cluster: configuration.clusterName, id: id)
        try dzns.del(names.own, rev: -1)
        if ownsBootRecord, try dzns.get(names.boot).body == id.bytes { try dzns.del(names.boot, rev: -1) }
    }

    /// Writes this node's `ns` entry once it is a member (§5.5 step 7); in the background,
    /// since the node is serving by then.
    package static func register(uri: String, configuration: Configuration, id: NodeID, address: String, logger: Logger) {
        DispatchQueue.global().async {
            do {
                let dzns = try DoozerClient(uri: uri, timeout: .seconds(2))
                defer { dzns.close() }
                if !configuration.readWriteSecret.isEmpty { try dzns.access(configuration.readWriteSecret) }
                _ = try dzns.set(Names(cluster: configuration.clusterName, id: id).own, rev: -1, body: Array(address.utf8))
            } catch {
                logger.error("could not record this member in the DzNS: \(error)")
            }
        }
    }

    /// Removes the `ns` entry of a node the cluster removed (B14); in the background.
    package static func forget(node: String, uri: String, configuration: Configuration, logger: Logger) {
        DispatchQueue.global().async {
            do {
                let dzns = try DoozerClient(uri: uri, timeout: .seconds(2))
                defer { dzns.close() }
                if !configuration.readWriteSecret.isEmpty { try dzns.access(configuration.readWriteSecret) }
                try dzns.del("/ctl/ns/\(configuration.clusterName)/\(node)", rev: -1)
            } catch {
                logger.notice("could not remove node \(node) from the DzNS: \(error)")
            }
        }
    }

    private struct Names {
        let directory: String
        let own: String
        let boot: String

        init(cluster: String, id: NodeID) {
            directory = "/ctl/ns/\(cluster)"
            own = "\(directory)/\(id)"
            boot = "/ctl/boot/\(cluster)"
        }
    }

    private struct Named {
        var entries: [(path: String, address: String, rev: Int64)]
        var bootOwner: (id: [UInt8], rev: Int64)?
    }

    /// The members the DzNS names for the cluster (the boot record's owner first) and the
    /// boot record, all at one revision.
    private static func lookup(_ dzns: DoozerClient, _ names: Names) throws -> Named {
        let rev = try dzns.rev()
        var named = Named(entries: [], bootOwner: nil)
        let boot = try dzns.get(names.boot, rev: rev)
        if boot.rev > 0 { named.bootOwner = (boot.body, boot.rev) }
        let children: [String]
        do {
            children = try dzns.getdir(names.directory, rev: rev)
        } catch .server(code: .noEnt, _) {
            children = []
        }
        for child in children {
            let path = "\(names.directory)/\(child)"
            let entry = try dzns.get(path, rev: rev)
            guard !entry.body.isEmpty else { continue }
            let item = (path: path, address: String(decoding: entry.body, as: UTF8.self), rev: entry.rev)
            if let owner = named.bootOwner, Array(child.utf8) == owner.id {
                named.entries.insert(item, at: 0)
            } else {
                named.entries.append(item)
            }
        }
        return named
    }

    private static func attach(to named: Named, configuration: Configuration, id: NodeID,
                               boundAddress: SocketAddress) throws -> JoinedCluster {
        try Attach.join(addresses: named.entries.map(\.address), configuration: configuration, id: id,
                        boundAddress: boundAddress)
    }

    /// Removes entries read by `lookup` that no node answered for, each only if unchanged
    /// since (a node that booted meanwhile keeps its entry).
    private static func removeStale(_ named: Named, _ names: Names, from dzns: DoozerClient) {
        for entry in named.entries { try? dzns.del(entry.path, rev: entry.rev) }
        if let owner = named.bootOwner { try? dzns.del(names.boot, rev: owner.rev) }
    }
}
