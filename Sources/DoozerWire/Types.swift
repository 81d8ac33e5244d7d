// Enumerations and the error type shared by the Doozer client protocol (spec §2.2, §2.3).

/// Request verbs (spec §2.2). Values 4, 8 and 10 belonged to removed verbs and are never reused.
public enum Verb: Int32, Sendable, CaseIterable {
    case get = 1
    case set = 2
    case del = 3
    case rev = 5
    case wait = 6
    case nop = 7
    case walk = 9
    case getdir = 14
    case stat = 16
    case `self` = 20
    case access = 99
    /// Not in the original: one unit of a node's state for a joining node (a consensus
    /// bootstrap, then the snapshot stream of `DoozerSnapshot`), by `offset`, at `rev`.
    case snapshot = 200
    /// Not in the original: a consensus message of a cluster peer, too large for one
    /// datagram, on that peer's stream to this node's client port (`value`: a stream record of
    /// DoozerPeer's `PeerDatagram`). Answered only when refused, with an error.
    case peer = 201
}

/// Values of the response `err_code` field (spec §2.3). 0 is reserved and never sent.
public enum ErrorCode: Int32, Sendable, CaseIterable {
    case tagInUse = 1
    case unknownVerb = 2
    case readonly = 3
    case tooLate = 4
    case revMismatch = 5
    case badPath = 6
    case missingArg = 7
    case range = 8
    case notDir = 20
    case isDir = 21
    case noEnt = 22
    case other = 127
}

/// Bits of the response `flags` field carried by WAIT and WALK answers.
public enum EventFlags {
    /// The event set (created or changed) a file.
    public static let set: Int32 = 4
    /// The event deleted a file.
    public static let del: Int32 = 8
}

/// A payload that is not a valid protobuf message of the expected shape.
/// Carries only a static description; the decoders never recover partially.
public struct WireError: Error, Equatable, Sendable {
    public let reason: String

    public init(reason: String) { self.reason = reason }
}

extension WireError {
    @usableFromInline static var truncatedVarint: WireError { WireError(reason: "truncated varint") }
    @usableFromInline static var varintTooLong: WireError { WireError(reason: "varint longer than 10 bytes") }
    @usableFromInline static var badFieldNumber: WireError { WireError(reason: "invalid field number") }
    @usableFromInline static var lengthPastEnd: WireError { WireError(reason: "length-delimited field runs past the end") }
    @usableFromInline static var truncatedFixed: WireError { WireError(reason: "truncated fixed-width field") }
    @usableFromInline static var unbalancedGroup: WireError { WireError(reason: "group start and end do not match") }
    @usableFromInline static var groupTooDeep: WireError { WireError(reason: "groups nested more than 64 deep") }
    @usableFromInline static var badWireType: WireError { WireError(reason: "invalid wire type") }
}
