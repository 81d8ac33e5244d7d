import CTLS

/// HMAC-SHA256 under one key, set when it is made (OpenSSL's EVP_MAC). Owns its OpenSSL
/// context; not thread-safe: one caller at a time.
public final class HMACSHA256 {
    public static let size = 32
    private let raw: OpaquePointer

    /// Nil when OpenSSL refuses the key (an empty one) or has no HMAC.
    public init?(key: [UInt8]) {
        guard !key.isEmpty, let raw = key.withUnsafeBytes({ ctls_mac_new($0.baseAddress, $0.count) }) else { return nil }
        self.raw = raw
    }

    deinit { ctls_mac_free(raw) }

    /// The MAC of `pieces`, concatenated in order, into the first `size` bytes of `out`.
    public func authenticate(_ pieces: UnsafeRawBufferPointer..., into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.size)
        var ok = ctls_mac_begin(raw) == 0
        for piece in pieces where ok && piece.count > 0 { ok = ctls_mac_update(raw, piece.baseAddress, piece.count) == 0 }
        ok = ok && ctls_mac_final(raw, out.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        // OpenSSL fails here only when it is out of memory: nothing a caller could do better.
        precondition(ok, "HMAC-SHA256 failed")
    }
}
