import DoozerStore

/// The member set as the store records it (§4.4): the peers named by the non-empty bodies of
/// the files under `/ctl/cal`. Recomputed only after an instance that wrote there, so the
/// per-instance cost on the apply path is one prefix check per event.
public struct Membership {
    public private(set) var members: [PeerID]
    private var stale = false

    public static let calDirectory = Array("/ctl/cal".utf8)

    /// The members in `snapshot`.
    public init(_ snapshot: Snapshot) {
        members = Membership.read(snapshot)
    }

    /// Notes an applied event; a write under `/ctl/cal` makes the next `refresh` read the set.
    public mutating func note(_ event: Event) {
        if !stale && Membership.isSlot(event.path) { stale = true }
    }

    /// The member set after the events noted so far, read from `snapshot` when one of them
    /// touched `/ctl/cal`.
    public mutating func refresh(_ snapshot: Snapshot) -> [PeerID] {
        if stale {
            stale = false
            members = Membership.read(snapshot)
        }
        return members
    }

    /// Whether `path` names a slot: a direct child of `/ctl/cal`.
    public static func isSlot(_ path: [UInt8]) -> Bool {
        path.count > calDirectory.count + 1 && path.starts(with: calDirectory) && path[calDirectory.count] == 0x2F
            && path.lastIndex(of: 0x2F) == calDirectory.count
    }

    static func read(_ snapshot: Snapshot) -> [PeerID] {
        var peers: [PeerID] = []
        snapshot.forEachFile(under: "/ctl/cal") { path, body, _ in
            if !body.isEmpty && isSlot(path) {
                let peer = PeerID(nodeID: body)
                if !peers.contains(peer) { peers.append(peer) }
            }
        }
        return peers.sorted()
    }
}
