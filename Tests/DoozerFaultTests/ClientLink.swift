// Client connections of the fault suite. They come from an address of their own (never one of
// the nodes'), so no partition rule ever matches them, and every call has a deadline.

@testable import DoozerClient
import DoozerSystem
import DoozerWire
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One client connection to one node, dialled from `ClientLink.source`: owns the
/// `DoozerConnection` and the id the history knows it by.
final class ClientLink: @unchecked Sendable {
    /// The clients' loopback address: no fault rule names it.
    static let source = "127.0.0.100"
    private static let counter = Mutex(0)

    let connection: DoozerConnection
    /// Unique for the run: a reconnection is a new id (read-your-writes holds per id).
    let id: Int
    let node: FaultNode

    private init(connection: DoozerConnection, node: FaultNode) {
        self.connection = connection
        self.node = node
        id = Self.counter.withLock { count in
            count += 1
            return count
        }
    }

    /// A TCP connection to `node` from `source`, the handshake bounded by `timeout` seconds.
    static func dial(_ node: FaultNode, timeout: Double) throws -> ClientLink {
        let remote = try SocketAddress.resolve(node.address)
        let local = try SocketAddress.resolve("\(source):0")
        let (fd, connected) = try Socket.startConnect(to: remote, from: local)
        do {
            if !connected { try awaitHandshake(fd, timeout: timeout, to: node) }
            let flags = fcntl(fd.rawValue, F_GETFL)
            _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        } catch {
            fd.close()
            throw error
        }
        return ClientLink(connection: DoozerConnection(fd: fd, address: node.address), node: node)
    }

    private static func awaitHandshake(_ fd: FileDescriptor, timeout: Double, to node: FaultNode) throws {
        var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        let ready = Glibc.poll(&entry, 1, Int32(timeout * 1000))
        guard ready > 0 else { throw FaultError("connect to \(node.address): no handshake within \(timeout) s") }
        try Socket.connectOutcome(fd)
    }

    func close() { connection.close() }

    /// One request, answered within `timeout` seconds: the server's response (an error code
    /// included), or a thrown `DoozerError` (`.waitTimeout` at the deadline; the connection is
    /// then left to the caller to close).
    func call(_ request: Request, timeout: Double) throws(DoozerError) -> Response {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(timeout * 1000)))
        return try connection.exchange(request, deadline: deadline)
    }

    /// REV within `timeout` seconds.
    func rev(timeout: Double) throws -> Int64 {
        let response = try call(Request(verb: .rev), timeout: timeout)
        guard let rev = response.rev, response.errCode == nil else { throw FaultError("REV on \(node.name): \(response)") }
        return rev
    }

    /// SELF within `timeout` seconds.
    func selfID(timeout: Double) throws -> String {
        let response = try call(Request(verb: .self), timeout: timeout)
        return String(decoding: response.value ?? [], as: UTF8.self)
    }
}
