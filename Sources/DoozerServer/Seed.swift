import DoozerStore
import DoozerSystem

extension Server {
    /// Revisions a new cluster fills with no-ops before its first consensus-decided write
    /// (the original's consensus window, α).
    static let initialNoOps = 50

    /// Writes the start-up layout of a new cluster with this node as its only member
    /// (spec §3.12): name, node info, CAL slot 0, name-service entry, 50 no-ops; then
    /// `writable` and the first pulse.
    func seedNewCluster() {
        let address = Array(boundAddress.description.utf8)
        commit(Mutation.set(Array("/ctl/name".utf8), rev: 0, body: Array(configuration.clusterName.utf8)))
        commit(Mutation.set(nodePath("addr"), rev: -1, body: address))
        commit(Mutation.set(nodePath("hostname"), rev: -1, body: Array((ProcessEnvironment.hostName() ?? "unknown").utf8)))
        commit(Mutation.set(nodePath("version"), rev: -1, body: Array(Configuration.version.utf8)))
        commit(Mutation.set(Array("/ctl/cal/0".utf8), rev: -1, body: id.bytes))
        commit(Mutation.set(Array("/ctl/ns/\(configuration.clusterName)/\(id)".utf8), rev: -1, body: address))
        for _ in 0..<Server.initialNoOps { commit(Mutation.nop) }
        commit(Mutation.set(nodePath("writable"), rev: 0, body: Array("true".utf8)))
        isWritable = true
        pulse()
    }
}
