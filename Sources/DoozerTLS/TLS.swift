import CTLS
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// Why TLS could not be set up or went wrong: one line, OpenSSL's reason where it gave one.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// The oldest queued OpenSSL error (clearing the queue), prefixed by `what`.
    static func fromLibrary(_ what: String) -> TLSError {
        TLSError("\(what): \(lastLibraryError(fallback: "unknown error"))")
    }
}

func lastLibraryError(fallback: String) -> String {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { text in
        ctls_last_error(text.baseAddress, 256, fallback)
        return String(cString: text.baseAddress!)
    }
}

/// One OpenSSL context: the certificate and key this end presents, the CAs it trusts, and
/// the policy every context here has (TLS 1.2 and 1.3 only, no renegotiation, no compression,
/// no session resumption on servers). Immutable once made and safe to share between threads;
/// sessions made from it keep it alive. Reloading a certificate means making a new context.
public final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer

    private init(isServer: Bool) throws(TLSError) {
        guard let raw = ctls_context_new(isServer ? 1 : 0) else { throw .fromLibrary("TLS context") }
        self.raw = raw
    }

    deinit { ctls_context_free(raw) }

    /// A file OpenSSL would fail to open, said plainly (OpenSSL's own words are cryptic).
    static func checkReadable(_ path: String, _ what: String) throws(TLSError) {
        guard access(path, R_OK) == 0 else { throw TLSError("\(what) file \(path): \(Errno.current)") }
    }

    /// Whether a server asks clients for certificates.
    public enum ClientCertificates: Sendable {
        /// Not asked for.
        case ignored
        /// Asked for and verified against the CA file when sent; a client may still send none.
        case verifiedIfSent(caFile: String)
    }

    /// A server's context: PEM `certificate` (a chain, leaf first) and its PEM `key`.
    public static func server(certificate: String, key: String,
                              clients: ClientCertificates = .ignored) throws(TLSError) -> TLSContext {
        let context = try TLSContext(isServer: true)
        try context.usePair(certificate: certificate, key: key)
        if case .verifiedIfSent(let caFile) = clients {
            try checkReadable(caFile, "client CA")
            guard ctls_context_request_peer(context.raw, caFile) == 0 else { throw .fromLibrary("client CA file \(caFile)") }
        }
        return context
    }

    /// A server's context from a PEM certificate and key held in memory (the fuzz target's fixture).
    public static func server(certificatePEM: String, keyPEM: String) throws(TLSError) -> TLSContext {
        let context = try TLSContext(isServer: true)
        guard ctls_context_use_pair_pem(context.raw, certificatePEM, keyPEM) == 0 else { throw .fromLibrary("certificate in memory") }
        return context
    }

    /// A client's context: trusts the PEM certificates in `caFile` (the system's when nil) and
    /// always verifies the server; presents `certificate` and `key` when given.
    public static func client(caFile: String?, certificate: String? = nil, key: String? = nil) throws(TLSError) -> TLSContext {
        let context = try TLSContext(isServer: false)
        if let caFile { try checkReadable(caFile, "CA") }
        guard ctls_context_trust(context.raw, caFile) == 0 else {
            throw .fromLibrary(caFile.map { "CA file \($0)" } ?? "system CA certificates")
        }
        if let certificate, let key { try context.usePair(certificate: certificate, key: key) }
        return context
    }

    private func usePair(certificate: String, key: String) throws(TLSError) {
        try TLSContext.checkReadable(certificate, "certificate")
        try TLSContext.checkReadable(key, "key")
        guard ctls_context_use_pair(raw, certificate, key) == 0 else {
            throw .fromLibrary("certificate \(certificate) with key \(key)")
        }
    }
}

/// One TLS session over a connected socket, which the caller keeps owning (it is neither
/// closed nor shut down here). Works on blocking and non-blocking sockets alike: every call
/// returns what it needs next instead of waiting. Not thread-safe: one caller at a time.
public final class TLSSession {
    private let raw: OpaquePointer
    /// Keeps the context alive while the session uses it.
    public let context: TLSContext

    /// What a call did.
    public enum Outcome: Equatable {
        /// Bytes moved (0 for a finished handshake).
        case done(Int)
        /// Call again once the socket is readable.
        case wantRead
        /// Call again once the socket is writable.
        case wantWrite
        /// The peer ended the session (close_notify or end of stream).
        case closed
        /// A handshake, verification or record error, as OpenSSL words it.
        case failed(String)
        /// The socket failed.
        case system(Errno)
    }

    /// A session over `fd`, server or client as `context` is; a client checks the server's
    /// certificate against `host` (a name or an address) when given.
    public init(context: TLSContext, fd: FileDescriptor, host: String? = nil) throws(TLSError) {
        guard let raw = ctls_session_new(context.raw, fd.rawValue, host) else { throw .fromLibrary("TLS session") }
        self.raw = raw
        self.context = context
    }

    /// A session with no socket: its records come from `feed` and go to `drain` (fuzzing,
    /// and tests that look at records).
    public init(inMemory context: TLSContext) throws(TLSError) {
        guard let raw = ctls_session_new_in_memory(context.raw) else { throw .fromLibrary("TLS session") }
        self.raw = raw
        self.context = context
    }

    deinit { ctls_session_free(raw) }

    /// An in-memory session's input: bytes as if they had arrived.
    public func feed(_ bytes: UnsafeRawBufferPointer) {
        _ = ctls_memory_feed(raw, bytes.baseAddress, bytes.count)
    }

    /// An in-memory session's output: what it would have sent, taken out.
    public func drain() -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let got = chunk.withUnsafeMutableBytes({ ctls_memory_drain(raw, $0.baseAddress, $0.count) }), got > 0 {
            out += chunk[..<got]
        }
        return out
    }

    private func outcome(_ result: Int32) -> Outcome {
        switch result {
        case 0...: return .done(Int(result))
        case Int32(CTLS_WANT_READ): return .wantRead
        case Int32(CTLS_WANT_WRITE): return .wantWrite
        case Int32(CTLS_CLOSED): return .closed
        case Int32(CTLS_SYSCALL): return .system(Errno.current)
        default:
            let reason = lastLibraryError(fallback: "TLS error")
            // "certificate verify failed" says little; the verification's own reason says why.
            guard let detail = ctls_verify_error(raw) else { return .failed(reason) }
            return .failed("\(reason): \(String(cString: detail))")
        }
    }

    public var isHandshakeDone: Bool { ctls_is_handshake_done(raw) != 0 }

    /// Moves the handshake on; `.done(0)` once it has finished.
    public func handshake() -> Outcome { outcome(ctls_handshake(raw)) }

    /// Decrypts into `buffer` (the handshake first, if it has not finished).
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        outcome(ctls_read(raw, buffer.baseAddress, buffer.count))
    }

    /// Encrypts and sends some of `buffer` (the handshake first, if it has not finished). A
    /// write that wants to be retried must be retried with the same bytes.
    public func write(_ buffer: UnsafeRawBufferPointer) -> Outcome {
        outcome(ctls_write(raw, buffer.baseAddress, buffer.count))
    }

    /// Whether the session holds input the socket's readiness does not report: records it read
    /// ahead, or decrypted bytes not yet taken.
    public var hasPendingInput: Bool { ctls_has_pending(raw) != 0 }

    /// Sends close_notify (once the handshake has finished), without waiting for the peer's.
    public func shutdown() { ctls_shutdown(raw) }

    /// The common name of the peer's certificate, when it sent one that verified.
    public var verifiedPeerName: String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { name in
            guard ctls_peer_verified(raw, name.baseAddress, 256) != 0 else { return nil }
            return String(cString: name.baseAddress!)
        }
    }

    /// The negotiated protocol version ("TLSv1.3").
    public var version: String { String(cString: ctls_version(raw)) }
}
