// The order the cluster gave the run's writes: every event under /fault, read live with WAITs
// from the run's first revision on, through whichever node answers. The history checks compare
// the clients' operations against it; at the end every node's own history is compared too.

@testable import DoozerClient
import DoozerWire
import Foundation
import Synchronization

/// One event under /fault: a SET of `value`, or a DEL.
struct LoggedEvent: Equatable, Sendable {
    let rev: Int64
    let path: String
    let isDel: Bool
    let value: String

    init(rev: Int64, path: String, flags: Int32, body: [UInt8]) {
        self.rev = rev
        self.path = path
        isDel = flags & EventFlags.del != 0
        value = String(decoding: body, as: UTF8.self)
    }

    init(_ event: DoozerEvent) { self.init(rev: event.rev, path: event.path, flags: event.flags, body: event.body) }

    var brief: String { isDel ? "\(rev) del \(path)" : "\(rev) set \(path)=\(value)" }
}

/// Follows the events under `Keys.root` on a thread of its own: owns the events seen so far,
/// contiguous from `firstRev` (every rev up to `next - 1` is known: either an event here or
/// none under /fault). When a node cannot answer (down, paused, cut off, or its history does not
/// reach back), it moves to the next node.
final class EventTail: @unchecked Sendable {
    static let glob = "\(Keys.root)/**"

    let firstRev: Int64
    private let nodes: [FaultNode]
    private let state: Mutex<(events: [LoggedEvent], next: Int64, problem: String?)>
    private let stopping = StopFlag()
    private let finished = DispatchSemaphore(value: 0)

    init(nodes: [FaultNode], firstRev: Int64) {
        self.nodes = nodes
        self.firstRev = firstRev
        state = Mutex(([], firstRev, nil))
    }

    var events: [LoggedEvent] { state.withLock { $0.events } }
    /// Every rev below it has been read.
    var next: Int64 { state.withLock { $0.next } }
    /// Why the tail could not go on (no node held the next revision any more), if it stopped.
    var problem: String? { state.withLock { $0.problem } }

    func start() {
        let thread = Thread { [self] in
            defer { finished.signal() }
            follow()
        }
        thread.name = "fault-event-tail"
        thread.start()
    }

    func stop() {
        stopping.set()
        finished.wait()
    }

    /// Waits (bounded poll) until every rev up to `rev` has been read; false at the deadline.
    func awaitRead(through rev: Int64, within seconds: Double) -> Bool {
        let deadline = Clock.seconds() + seconds
        while next <= rev {
            if Clock.seconds() >= deadline || problem != nil { return false }
            usleep(10_000)
        }
        return true
    }

    private func follow() {
        var current = 0
        var link: ClientLink?
        var tooLateFrom: Set<String> = []
        while !stopping.isSet {
            let node = nodes[current]
            do {
                if link == nil { link = try ClientLink.dial(node, timeout: 0.5) }
                let at = next
                let event = try link!.connection.wait(Self.glob, rev: at, timeout: .seconds(1))
                tooLateFrom = []
                state.withLock { state in
                    state.events.append(LoggedEvent(event))
                    state.next = event.rev + 1
                }
            } catch DoozerError.server(code: .tooLate, _) {
                tooLateFrom.insert(node.label)
                if tooLateFrom.count == nodes.count {
                    let at = next
                    state.withLock { $0.problem = "no node keeps the history from rev \(at) any more" }
                    return
                }
                (link, current) = (nil, (current + 1) % nodes.count)
            } catch {
                link?.close()
                (link, current) = (nil, (current + 1) % nodes.count)
                usleep(20_000)  // the node is down or cut off: try the next one shortly
            }
        }
        link?.close()
    }
}
