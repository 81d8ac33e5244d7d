import DoozerStore
import DoozerSystem

extension Server {
    /// Revisions a new cluster fills with no-ops before its first consensus-decided write
    /// (the original's consensus window, α).
    static let initialNoOps = 50

    /// Writes the start-up layout of a new cluster with this node as its only member
    /// (spec §3.12, §5.2): name, node info, CAL slot 0, name-service entry and 50 no-ops,
    /// applied locally (not via consensus); then proposes `writable` and the first pulse.
    func seedNewCluster() {
        let address = Array(boundAddress.description.utf8)
        let layout = [
            Mutation.set(Array("/ctl/name".utf8), rev: 0, body: Array(configuration.clusterName.utf8)),
            Mutation.set(nodePath("addr"), rev: -1, body: address),
            Mutation.set(nodePath("hostname"), rev: -1, body: Array((ProcessEnvironment.hostName() ?? "unknown").utf8)),
            Mutation.set(nodePath("version"), rev: -1, body: Array(Configuration.version.utf8)),
            Mutation.set(Array("/ctl/cal/0".utf8), rev: -1, body: id.bytes),
        ]
            // A seed booted through a DzNS is named there, not in its own tree (§3.12).
            + (bootURI == nil ? [Mutation.set(Array("/ctl/ns/\(configuration.clusterName)/\(id)".utf8), rev: -1, body: address)] : [])
            + Array(repeating: Mutation.nop, count: Server.initialNoOps)
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
}
