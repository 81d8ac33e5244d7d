import DoozerStore

/// Numbers the server keeps for the stats panel. A value, filled in by the server's 1 s timer.
public struct WebStats: Sendable, Equatable {
    public var rev: Int64 = 0
    /// Open client-port connections.
    public var clientConnections = 0
    /// Open web connections, event streams included.
    public var webConnections = 0
    /// Open event streams.
    public var eventStreams = 0
    /// Client requests handled during the last whole second.
    public var requestsPerSecond: Int64 = 0
    /// Revisions applied during the last whole second.
    public var writesPerSecond: Int64 = 0
    /// How long this node has been out of touch with its cluster's majority, in seconds (nil:
    /// in touch). Meanwhile its reads answer from its replica and may be stale.
    public var cutOffSeconds: Int64?

    public init() {}

    /// The majority row's text: "in contact", or how long it has not been.
    public var contact: String { cutOffSeconds.map { "cut off for \($0) s: reads may be stale" } ?? "in contact" }
}

/// One node as `/ctl` describes it.
public struct ClusterNode: Sendable, Equatable {
    public var id: String
    public var address: String = ""
    public var applied: String = ""
    /// The CAL slot it holds, for members.
    public var slot: String?
}

/// The cluster as the tree records it (§3.12): members are the ids in `/ctl/cal/*`, slaves
/// every other id under `/ctl/node/`. Derived from one snapshot; owns copies only.
public struct ClusterView: Sendable, Equatable {
    public var members: [ClusterNode] = []
    public var slaves: [ClusterNode] = []

    public init(snapshot: Snapshot) {
        var nodes: [String: ClusterNode] = [:]
        var order: [String] = []
        let nodePrefix = Array("/ctl/node/".utf8)
        snapshot.forEachFile(under: "/ctl/node") { path, body, _ in
            guard path.count > nodePrefix.count else { return }
            let rest = path[nodePrefix.count...]
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return }
            let id = String(decoding: rest[..<slash], as: UTF8.self)
            let leaf = String(decoding: rest[(slash + 1)...], as: UTF8.self)
            if nodes[id] == nil { nodes[id] = ClusterNode(id: id); order.append(id) }
            switch leaf {
            case "addr": nodes[id]?.address = String(decoding: body, as: UTF8.self)
            case "applied": nodes[id]?.applied = String(decoding: body, as: UTF8.self)
            default: break
            }
        }
        let calPrefix = Array("/ctl/cal/".utf8)
        var memberIDs: Set<String> = []
        snapshot.forEachFile(under: "/ctl/cal") { path, body, _ in
            guard path.count > calPrefix.count, !body.isEmpty else { return }
            let id = String(decoding: body, as: UTF8.self)
            var node = nodes[id] ?? ClusterNode(id: id)
            node.slot = String(decoding: path[calPrefix.count...], as: UTF8.self)
            members.append(node)
            memberIDs.insert(id)
        }
        slaves = order.filter { !memberIDs.contains($0) }.compactMap { nodes[$0] }
    }
}

/// `/$cluster.json`: cluster name, this node, its role, members, slaves and stats. Pure.
public enum ClusterDocument {
    public static func json(clusterName: String, nodeID: String, snapshot: Snapshot, stats: WebStats) -> [UInt8] {
        let view = ClusterView(snapshot: snapshot)
        let role = view.members.contains { $0.id == nodeID } ? "member" : "slave"
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.key("Cluster"); w.string(clusterName)
        w.key("Self"); w.string(nodeID)
        w.key("Role"); w.string(role)
        for (key, nodes) in [("Members", view.members), ("Slaves", view.slaves)] {
            w.key(key)
            w.beginArray()
            for node in nodes {
                w.beginObject()
                w.key("Id"); w.string(node.id)
                w.key("Addr"); w.string(node.address)
                w.key("Applied"); w.string(node.applied)
                if let slot = node.slot { w.key("Slot"); w.string(slot) }
                w.endObject()
            }
            w.endArray()
        }
        w.key("Stats")
        w.beginObject()
        w.key("Rev"); w.number(stats.rev)
        w.key("ClientConnections"); w.number(stats.clientConnections)
        w.key("WebConnections"); w.number(stats.webConnections)
        w.key("EventStreams"); w.number(stats.eventStreams)
        w.key("RequestsPerSecond"); w.number(stats.requestsPerSecond)
        w.key("WritesPerSecond"); w.number(stats.writesPerSecond)
        w.key("Majority"); w.string(stats.contact)
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
