import DoozerServer
import DoozerStartup
import DoozerSystem
import Foundation
import Logging

/// A real `DoozerServer.Server` running on a thread of its own inside the benchmark process,
/// so the malloc interposer (which counts process-wide) sees the server's allocations too.
///
/// The server is created on the thread that runs it: `Server.init` blocks SIGINT/SIGTERM for
/// its creating thread (signalfd), and that must not be the benchmark thread. The thread is
/// never stopped; it dies with the process.
public final class InProcessServer: Sendable {
    /// The address the listener was bound to (port chosen by the kernel).
    public let address: SocketAddress

    /// Starts a node with `configure` applied to a default benchmark configuration (listen on
    /// 127.0.0.1 with a kernel-chosen port, no web view, a pulse of one hour so no background
    /// write lands during a measurement). Returns once the node is bound; it serves requests
    /// as soon as its thread reaches the event loop.
    public init(configure: @Sendable (inout Configuration) -> Void = { _ in }) throws {
        var configuration = Configuration(listenAddress: try SocketAddress.resolve("127.0.0.1:0"))
        configuration.webAddress = nil
        configuration.pulseInterval = 3_600 * 1_000_000_000
        configure(&configuration)
        let handoff = Handoff()
        let thread = Thread { [configuration] in
            let logger = Logger(label: "doozerd-benchmark") { _ in SwiftLogNoOpLogHandler() }
            let server: Server
            do {
                server = try Server(configuration: configuration, logger: logger)
            } catch {
                handoff.finish(.failure(error))
                return
            }
            handoff.finish(.success(server.boundAddress))
            do {
                try server.run()
            } catch {
                fatalError("in-process doozerd stopped: \(error)")
            }
        }
        thread.name = "doozerd"
        thread.start()
        address = try handoff.wait()
    }
}

/// Carries the bound address (or the start-up error) from the server thread to the caller.
private final class Handoff: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<SocketAddress, any Error>?   // written before `ready` is signalled

    func finish(_ result: Result<SocketAddress, any Error>) {
        self.result = result
        ready.signal()
    }

    func wait() throws -> SocketAddress {
        ready.wait()
        return try result!.get()
    }
}
