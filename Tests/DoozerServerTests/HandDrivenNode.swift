@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import DoozerStore
import DoozerSystem
import DoozerWire
import Foundation
import Logging
import XCTest

/// A seeded node whose event loop never runs: the test plays the loop on its own thread,
/// delivering readiness with `ready` and ending iterations with `iterationDone`, so every
/// step of a write — request, proposal, decision, answer — happens exactly when the test says.
final class HandDrivenNode {
    let server: Server

    init() throws {
        var configuration = Configuration(listenAddress: try SocketAddress.resolve("127.0.0.1:0"))
        configuration.webAddress = nil
        configuration.pulseInterval = 3_600 * 1_000_000_000
        server = try Self.makeServer(configuration)
        server.seedNewCluster()
    }

    /// Creates the server on a thread of its own: `Server.init` blocks SIGINT, SIGTERM and
    /// SIGPIPE on its calling thread, and the test runner's threads must keep theirs (child
    /// processes of other tests inherit the mask).
    static func makeServer(_ configuration: Configuration) throws -> Server {
        final class Handoff: @unchecked Sendable {   // written before `done` is signalled
            var result: Result<Server, any Error>?
            let done = DispatchSemaphore(value: 0)
        }
        let handoff = Handoff()
        let thread = Thread {
            let logger = Logger(label: "hand-driven-doozerd") { _ in SwiftLogNoOpLogHandler() }
            handoff.result = Result { try Server(configuration: configuration, logger: logger) }
            handoff.done.signal()
        }
        thread.start()
        handoff.done.wait()
        return try handoff.result!.get()
    }

    /// A client connected through a socket pair, served as if the listener had accepted it.
    func connect() throws -> HandClient {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                         0, &ends) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let session = try XCTUnwrap(server.openSession(FileDescriptor(rawValue: ends[0])))
        return HandClient(node: self, fd: ends[1], session: session)
    }

    /// The body of `path` in the current tree, nil when it is not a file.
    func body(_ path: String) -> String? {
        guard case .file(let body, _) = server.store.current.lookup(path) else { return nil }
        return String(decoding: body, as: UTF8.self)
    }
}

/// The client end of a `HandDrivenNode` connection: sends whole frames and reads back every
/// answer the server has flushed, never blocking.
final class HandClient {
    let node: HandDrivenNode
    let fd: Int32
    let session: Session
    private var received: [UInt8] = []

    init(node: HandDrivenNode, fd: Int32, session: Session) {
        self.node = node
        self.fd = fd
        self.session = session
    }

    deinit { close() }

    /// Writes `requests` and runs one loop iteration in which the connection is readable.
    func send(_ requests: [Request]) {
        let frames = requests.flatMap { Framing.frame($0.encoded()) }
        let written = frames.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        XCTAssertEqual(written, frames.count, "short write to the socket pair")
        node.server.ready(token: session.token, events: .readable)
        node.server.iterationDone()
    }

    /// Whether the server closed its end: a read finds the end of the stream.
    var isClosedByServer: Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK)) == 0
    }

    /// Every answer flushed to this client so far and not returned before, in arrival order.
    func answers() throws -> [Response] {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { break }
            received += chunk[..<count]
        }
        var responses: [Response] = []
        while received.count >= Framing.headerSize {
            let length = received[..<Framing.headerSize].reduce(0) { $0 << 8 | Int($1) }
            guard received.count >= Framing.headerSize + length else { break }
            responses.append(try Response(decoding: Array(received[Framing.headerSize..<(Framing.headerSize + length)])))
            received.removeFirst(Framing.headerSize + length)
        }
        return responses
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
    }
}

/// A sequencer that holds every proposal until the test decides it — alone, in a batch, in
/// any order, mixed with other nodes' mutations — or fails it, as a consensus would.
final class HeldSequencer: Sequencer {
    private unowned let server: Server
    /// Proposals submitted and not yet decided or failed, in submission order.
    private(set) var held: [(mutation: [UInt8], proposal: ProposalID)] = []

    init(server: Server) {
        self.server = server
    }

    func submit(_ mutation: [UInt8], proposal: ProposalID, bookkeeping: Bool) {
        held.append((mutation, proposal))
    }

    /// The ids held, in submission order.
    var proposals: [ProposalID] { held.map(\.proposal) }

    /// One decided batch: each entry is a held proposal or (nil) a no-op from another node,
    /// applied in the batch's order; then the loop iteration ends.
    func decide(_ batch: [ProposalID?]) {
        for entry in batch {
            guard let id = entry else {
                server.applyDecided(Mutation.nop, proposal: nil)
                continue
            }
            let index = held.firstIndex { $0.proposal == id }!
            server.applyDecided(held.remove(at: index).mutation, proposal: id)
        }
        server.iterationDone()
    }

    func fail(_ id: ProposalID, _ failure: ProposalFailure) {
        held.removeAll { $0.proposal == id }
        server.failProposal(id, failure)
        server.iterationDone()
    }
}
