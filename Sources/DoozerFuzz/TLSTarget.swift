import DoozerTLS

/// What a TLS client port does with the first bytes a client sends: a server session (TLS 1.2
/// and 1.3, the port's policy) fed any bytes, asked to read and then to write. It must answer
/// each call with an outcome and never read past the buffer it was given.
enum TLSTarget {
    /// A self-signed P-256 certificate valid until 2126 and its key: a test fixture for this
    /// target only, not a secret, used nowhere else.
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBrzCCAVWgAwIBAgIUWJHgd2Q12Jj9qwhb9h0PV1FhmjwwCgYIKoZIzj0EAwIw
        LDEqMCgGA1UEAwwhZG9vemVyIGZ1enogdGFyZ2V0ICh0ZXN0IGZpeHR1cmUpMCAX
        DTI2MTIwNzE4NTIxMVoYDzIxMjYxMTEzMTg1MjExWjAsMSowKAYDVQQDDCFkb296
        ZXIgZnV6eiB0YXJnZXQgKHRlc3QgZml4dHVyZSkwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAARjkRXT/ayCMpQ0XFUQdFvQXJmHsSaunotdudeV4yFzQHQaNOwvrb/i
        MU5JCiM+jaqGG9Bz59ZAK8sVxmRjX/aio1MwUTAdBgNVHQ4EFgQUjXpdvinl6VSA
        P0iU9CXovoF43BcwHwYDVR0jBBgwFoAUjXpdvinl6VSAP0iU9CXovoF43BcwDwYD
        VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBuOKq1I7c/GSySXrXyVAml
        4JXnqqdRTqZEvGIsTNNNugIhAIIdjY3856SgdiK9JcMT1inBv0CHStce+briPtCw
        4Y9f
        -----END CERTIFICATE-----

        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv6/L1A/L3FT/2OA5
        E2NtQgPhw3gebsPxsn32EmMH3oGhRANCAARjkRXT/ayCMpQ0XFUQdFvQXJmHsSau
        notdudeV4yFzQHQaNOwvrb/iMU5JCiM+jaqGG9Bz59ZAK8sVxmRjX/ai
        -----END PRIVATE KEY-----

        """

    static let context: TLSContext = {
        do { return try TLSContext.server(certificatePEM: certificate, keyPEM: key) } catch {
            fatalError("the TLS fuzz target's fixture does not load: \(error)")
        }
    }()

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        let session: TLSSession
        do { session = try TLSSession(inMemory: context) } catch { throw FuzzFailure("no session: \(error)") }
        session.feed(input)
        var buffer = [UInt8](repeating: 0, count: 1024)
        reading: for _ in 0..<8 {
            let outcome = buffer.withUnsafeMutableBytes { session.read(into: $0) }
            switch outcome {
            case .done(let count):
                try expect(count > 0 && count <= buffer.count, "a read claimed \(count) bytes of a \(buffer.count)-byte buffer")
            case .wantRead, .wantWrite, .closed, .failed, .system:
                break reading
            }
        }
        _ = session.drain()
        _ = Array("ping".utf8).withUnsafeBytes { session.write($0) }
        _ = session.drain()
    }

    /// A real ClientHello (from a client session of this project), whole and cut mid-record.
    static var seeds: [[UInt8]] {
        guard let client = try? TLSContext.client(caFile: nil), let session = try? TLSSession(inMemory: client) else { return [] }
        _ = session.handshake()
        let hello = session.drain()
        guard hello.count > 10 else { return [] }
        return [hello, Array(hello.prefix(hello.count / 2)), Array(hello.prefix(5))]
    }
}
