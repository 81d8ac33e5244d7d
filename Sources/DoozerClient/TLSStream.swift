import DoozerSystem
import DoozerTLS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a client speaks TLS to a server: the CA certificates it trusts (the system's when
/// nil) and, for servers that ask (`-tlsclientca`), a certificate and key to present. A URI
/// with `tls=1` turns TLS on with the defaults; options given to `DoozerClient` turn it on
/// whatever the URI says.
public struct TLSOptions: Sendable, Equatable {
    public var caFile: String?
    public var certificate: String?
    public var key: String?

    public init(caFile: String? = nil, certificate: String? = nil, key: String? = nil) {
        self.caFile = caFile
        self.certificate = certificate
        self.key = key
    }

    /// The context these options describe; `.connection` with OpenSSL's reason when a file
    /// does not load.
    func context() throws(DoozerError) -> TLSContext {
        if (certificate == nil) != (key == nil) { throw .connection("tls: need both a client certificate and its key") }
        do {
            return try TLSContext.client(caFile: caFile, certificate: certificate, key: key)
        } catch {
            throw .connection("tls: \(error)")
        }
    }
}

/// A TLS session over a client connection's socket, shared by its reader thread and its
/// writers. The socket is non-blocking; each OpenSSL call runs under `lock` and returns at
/// once, and the waiting (poll) happens outside it, so a reader waiting for a response never
/// holds up a writer.
final class TLSStream: @unchecked Sendable {
    private let session: TLSSession
    private let fd: FileDescriptor
    private let lock = NSLock()
    let address: String

    /// Runs the handshake on connected socket `fd` (made non-blocking here), bounded by `deadline`.
    init(context: TLSContext, fd: FileDescriptor, host: String, address: String,
         deadline: ContinuousClock.Instant?) throws(DoozerError) {
        self.fd = fd
        self.address = address
        let flags = fcntl(fd.rawValue, F_GETFL)
        _ = fcntl(fd.rawValue, F_SETFL, flags | O_NONBLOCK)
        do {
            session = try TLSSession(context: context, fd: fd, host: host)
        } catch {
            throw .connection("tls: \(error)")
        }
        while true {
            switch session.handshake() {
            case .done: return
            case .wantRead: try wait(for: Int16(POLLIN), until: deadline)
            case .wantWrite: try wait(for: Int16(POLLOUT), until: deadline)
            case .closed: throw .connection("tls handshake with \(address): the server closed the connection")
            case .failed(let reason): throw .connection("tls handshake with \(address): \(reason)")
            case .system(let errno): throw .connection("tls handshake with \(address): \(goText(errno))")
            }
        }
    }

    private func wait(for events: Int16, until deadline: ContinuousClock.Instant?) throws(DoozerError) {
        var timeout: Int32 = -1
        if let deadline {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { throw .timeout }
            let (seconds, attoseconds) = left.components
            timeout = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
        }
        var entry = pollfd(fd: fd.rawValue, events: events, revents: 0)
        _ = poll(&entry, 1, timeout)
    }

    /// Reads some decrypted bytes, waiting for them: the count, 0 at the end of the stream, or
    /// the error that ended it.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, DoozerError> {
        while true {
            lock.lock()
            let outcome = session.read(into: buffer)
            lock.unlock()
            switch outcome {
            case .done(let count): return .success(count)
            case .closed: return .success(0)
            case .wantRead: try? wait(for: Int16(POLLIN), until: nil)
            case .wantWrite: try? wait(for: Int16(POLLOUT), until: nil)
            case .failed(let reason): return .failure(.connection("read tls \(address): \(reason)"))
            case .system(let errno): return .failure(.connection("read tcp \(address): \(goText(errno))"))
            }
        }
    }

    /// Writes all of `buffer`; the error that ended the connection, if any.
    func writeAll(_ buffer: UnsafeRawBufferPointer) -> DoozerError? {
        var offset = 0
        while offset < buffer.count {
            lock.lock()
            let outcome = session.write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
            lock.unlock()
            switch outcome {
            case .done(let count): offset += count
            case .wantWrite: try? wait(for: Int16(POLLOUT), until: nil)
            // Only a handshake message (a key update) makes a write read: the reader thread
            // takes it in; look again shortly.
            case .wantRead: usleep(1000)
            case .closed: return .connection("write tls \(address): the server closed the session")
            case .failed(let reason): return .connection("write tls \(address): \(reason)")
            case .system(let errno): return .connection("write tcp \(address): \(goText(errno))")
            }
        }
        return nil
    }

    /// Sends close_notify (best effort).
    func shutdown() {
        lock.lock()
        session.shutdown()
        lock.unlock()
    }
}
