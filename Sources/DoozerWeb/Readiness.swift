/// What `/health` and `/ready` answer, for load balancers and orchestrators: one line of JSON
/// and a status code each, decided from a node's state as the server reads it. Pure: owns
/// nothing, does no I/O.
///
/// `/health` says the process serves (always 200 while it answers at all). `/ready` says the
/// node is worth sending clients to: it hears a majority of its cluster (a member hears its
/// leader, a slave its upstream) and has applied what it knows to be decided, within
/// `maxBehind` instances; otherwise 503, with the reason.
public struct NodeReadiness: Sendable, Equatable {
    public enum Role: String, Sendable {
        case leader, member, slave
    }

    public var role: Role
    /// The store's revision.
    public var rev: Int64
    /// Instances known to be decided and not applied here yet.
    public var behind: Int64
    /// Whether the node hears a majority of its cluster (`Consensus.inContact`).
    public var inContact: Bool
    /// How long it has been out of touch, in seconds (nil while in touch).
    public var cutOffSeconds: Int64?

    /// The most decided instances a ready node may not have applied yet. A busy member applies
    /// a few behind its decisions; one catching up from far behind is not ready until it has.
    public static let maxBehind: Int64 = 100

    public init(role: Role, rev: Int64, behind: Int64, inContact: Bool, cutOffSeconds: Int64? = nil) {
        self.role = role
        self.rev = rev
        self.behind = behind
        self.inContact = inContact
        self.cutOffSeconds = cutOffSeconds
    }

    public var isReady: Bool { inContact && behind <= Self.maxBehind }

    /// Why the node is not ready (nil when it is).
    public var reason: String? {
        if !inContact {
            return role == .slave ? "no entries from its upstream member" : "no contact with a majority of the cluster"
        }
        if behind > Self.maxBehind { return "\(behind) decided instances not applied yet" }
        return nil
    }

    /// `/ready`: 200 when ready, else 503.
    public var response: HTTPResponse {
        var json = JSONWriter()
        json.beginObject()
        json.key("ready"); json.bool(isReady)
        json.key("role"); json.string(role.rawValue)
        json.key("rev"); json.number(rev)
        json.key("behind"); json.number(behind)
        json.key("in_contact"); json.bool(inContact)
        if let cutOffSeconds { json.key("cut_off_s"); json.number(cutOffSeconds) }
        if let reason { json.key("reason"); json.string(reason) }
        json.endObject()
        return Self.answer(isReady ? .ok : .serviceUnavailable, json)
    }

    /// `/health`: the process serves, at `rev`.
    public static func healthResponse(rev: Int64) -> HTTPResponse {
        var json = JSONWriter()
        json.beginObject()
        json.key("status"); json.string("serving")
        json.key("rev"); json.number(rev)
        json.endObject()
        return answer(.ok, json)
    }

    private static func answer(_ status: HTTPStatus, _ writer: JSONWriter) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")],
                     body: writer.bytes + [UInt8(ascii: "\n")])
    }
}
