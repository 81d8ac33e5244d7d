// One entry point per decoder that reads untrusted bytes. libFuzzer drives them through the
// `doozer-fuzz` driver (scripts/fuzz); DoozerFuzzTests replays every seed and every kept crash
// through the same functions, so a fixed crash stays fixed in the ordinary test run.

/// A decoder under fuzzing: runs one input through it and checks what the decoder promises
/// (round trips, agreement with a reference, bounds). Owns nothing between runs; never does
/// I/O; a crash or a thrown `FuzzFailure` is a finding.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Frames and `Request` payloads, decoded as the server decodes them.
    case request
    /// `Response` payloads, decoded as the client decodes them.
    case response
    /// The store's mutation encoding (`Mutation.decode`).
    case mutation
    /// Glob compilation and matching, against a reference matcher.
    case glob
    /// HTTP/1.x request heads, whole and in pieces.
    case http
    /// lz4-compressed snapshot streams (`SnapshotReader`).
    case snapshot
    /// Consensus messages and bootstrap records (`PeerCodec`).
    case peer
    /// Peer datagrams: header, items, fragments and their reassembly.
    case datagram
    /// The first bytes a client sends a TLS client port (a ClientHello, or anything else).
    case tls

    /// Runs one input; throws when the decoder breaks one of its promises.
    public func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        switch self {
        case .request: try RequestTarget.run(input)
        case .response: try ResponseTarget.run(input)
        case .mutation: try MutationTarget.run(input)
        case .glob: try GlobTarget.run(input)
        case .http: try HTTPTarget.run(input)
        case .snapshot: try SnapshotTarget.run(input)
        case .peer: try PeerCodecTarget.run(input)
        case .datagram: try DatagramTarget.run(input)
        case .tls: try TLSTarget.run(input)
        }
    }

    public func run(_ input: [UInt8]) throws(FuzzFailure) {
        let result: Result<Void, FuzzFailure> = input.withUnsafeBytes { bytes in
            Result { () throws(FuzzFailure) in try run(bytes) }
        }
        try result.get()
    }

    /// Small valid inputs built with the real encoders: where fuzzing starts.
    public var seeds: [[UInt8]] {
        switch self {
        case .request: return RequestTarget.seeds
        case .response: return ResponseTarget.seeds
        case .mutation: return MutationTarget.seeds
        case .glob: return GlobTarget.seeds
        case .http: return HTTPTarget.seeds
        case .snapshot: return SnapshotTarget.seeds
        case .peer: return PeerCodecTarget.seeds
        case .datagram: return DatagramTarget.seeds
        case .tls: return TLSTarget.seeds
        }
    }
}

/// A promise a decoder broke, in words.
public struct FuzzFailure: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// Throws `what` unless `condition` holds.
@inline(__always)
func expect(_ condition: Bool, _ what: @autoclosure () -> String) throws(FuzzFailure) {
    if !condition { throw FuzzFailure(what()) }
}
