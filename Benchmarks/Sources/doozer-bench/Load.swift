// The load loop: one thread, the project's EventLoop, N non-blocking connections.
import DoozerSystem
import DoozerReactor
import DoozerWire
import Histogram
#if canImport(Glibc)
import Glibc
#endif

enum Role { case worker, reader, writer, watcher, idle }

final class Conn {
    var ch: StreamChannel
    let role: Role
    var outstanding = 0
    var freeTags: [Int32]
    var sendTime: [Int64]
    var tagVerb: [UInt64]
    var closed = false
    // watcher
    var nextWaitRev: Int64 = 0
    var lastEventRev: Int64 = 0
    var delivered = 0          // writer events in range
    var allEvents = 0
    var duplicates = 0
    var gaps = 0
    var tooLate = 0

    init(fd: FileDescriptor, host: String, role: Role, depth: Int, bufferSize: Int) throws {
        ch = try makeChannel(fd, host: host, bufferSize: bufferSize)
        self.role = role
        freeTags = (0 ..< Int32(depth)).reversed().map { $0 }
        sendTime = Array(repeating: 0, count: depth)
        tagVerb = Array(repeating: 0, count: depth)
    }
}

struct Counters {
    var done = 0
    var reads = 0
    var writes = 0
    var errors: [String: Int] = [:]
    mutating func error(_ name: String) { errors[name, default: 0] += 1 }
    var errorTotal: Int { errors.values.reduce(0, +) }
}

enum PhaseKind { case load, prefill(total: Int, sequentialFrom: Int), watch, probe }

final class Engine: EventLoopHandler {
    let loop: EventLoop
    let o: Options
    var conns: [Conn] = []
    var keyPaths: [[UInt8]] = []
    var value: [UInt8]
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    /// `-readers`: the GETs of the reader connections, apart from the workers' operations.
    var readerLatency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    var readerDone = 0
    var eventLatency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    var counters = Counters()
    var phase: PhaseKind = .load
    var issuing = false
    var measuring = false
    var draining = false
    var measureStart: Int64 = 0
    var measureEnd: Int64 = 0
    var issued = 0                  // prefill: keys sent so far
    var stopAfter = 0               // count mode: measured completions
    var rng: UInt64 = 0x9E3779B97F4A7C15
    // watch
    var writeStart: Int64 = 0
    var writesSent = 0
    var writesBehind = 0
    var writerPrefix: [UInt8] = Array("/bench/w".utf8)
    var startRev: Int64 = 0
    var maxWriterRev: Int64 = 0
    var writesOK = 0
    var writerRR = 0
    let pathStar: [UInt8] = Array("/**".utf8)

    static let timerWarmupEnd: UInt64 = 1, timerEnd: UInt64 = 2, timerTick: UInt64 = 3, timerDrainTimeout: UInt64 = 4

    init(_ o: Options) throws {
        self.o = o
        loop = try EventLoop(maxEventsPerWait: 1024)
        value = Array(repeating: UInt8(ascii: "x"), count: o.valueSize)
        keyPaths = (0 ..< o.keys).map { Array("/bench/k\($0)".utf8) }
    }

    // MARK: connections

    func connect(_ addresses: [SocketAddress], count: Int, role: Role, depth: Int, bufferSize: Int = 64 * 1024) throws {
        for i in 0 ..< count {
            let address = addresses[(conns.count + i) % addresses.count]
            let fd = try Socket.connect(to: address, timeout: .seconds(10))
            setNonBlocking(fd)
            let c = try Conn(fd: fd, host: address.host, role: role, depth: depth, bufferSize: bufferSize)
            try loop.register(fd, interest: .readable, token: UInt64(conns.count))
            conns.append(c)
        }
    }

    func closeAll() {
        for c in conns where !c.closed {
            loop.unregister(c.ch.fd)
            c.ch.fd.close()
            c.closed = true
        }
        conns.removeAll()
    }

    // MARK: running phases

    @inline(__always) func random() -> UInt64 {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        return rng
    }

    /// Runs the loop until the phase ends and every outstanding request has answered (or 10 s).
    func runPhase(_ kind: PhaseKind, duration: Double, warmup: Double, count: Int) throws {
        phase = kind
        counters = Counters()
        latency.reset()
        eventLatency.reset()
        readerLatency.reset()
        readerDone = 0
        issued = 0
        stopAfter = count
        draining = false
        issuing = true
        measuring = warmup <= 0
        let now = ProcessEnvironment.monotonicNanoseconds()
        measureStart = now
        if warmup > 0 { loop.schedule(after: Int64(warmup * 1e9), timer: Engine.timerWarmupEnd) }
        if count == 0, duration > 0 {
            loop.schedule(after: Int64((warmup + duration) * 1e9), timer: Engine.timerEnd)
        }
        if case .watch = kind {
            writeStart = now
            writesSent = 0
            loop.schedule(after: 1_000_000, timer: Engine.timerTick)
        }
        // Prime every connection.
        for index in conns.indices { refill(index, now: now); flush(index) }
        if case .probe = kind { endMeasurement() }
        try loop.run(self)
    }

    func endMeasurement() {
        guard issuing else { return }
        issuing = false
        measureEnd = ProcessEnvironment.monotonicNanoseconds()
        if !measuring { measureStart = measureEnd }
        draining = true
        loop.schedule(after: 10_000_000_000, timer: Engine.timerDrainTimeout)
        checkDrained()
    }

    func checkDrained() {
        guard draining else { return }
        if case .watch = phase {
            // Idle watchers always have a WAIT outstanding: done when each saw the last write.
            for c in conns where c.role == .watcher && !c.closed && c.lastEventRev < maxWriterRev { return }
            for c in conns where c.role == .writer && !c.closed && c.outstanding > 0 { return }
        } else {
            for c in conns where !c.closed && c.outstanding > 0 { return }
        }
        draining = false
        loop.stop()
    }

    // MARK: EventLoopHandler

    func timerFired(_ timer: UInt64) {
        switch timer {
        case Engine.timerWarmupEnd:
            if issuing {
                measuring = true
                measureStart = loop.now
                counters = Counters()
                latency.reset()
                eventLatency.reset()
                readerLatency.reset()
                readerDone = 0
            }
        case Engine.timerEnd:
            endMeasurement()
        case Engine.timerTick:
            guard issuing else { return }
            paceWriters()
            loop.schedule(after: 1_000_000, timer: Engine.timerTick)
        case Engine.timerDrainTimeout:
            if draining {
                counters.error("drain timeout")
                draining = false
                loop.stop()
            }
        default: break
        }
    }

    func iterationDone() {}

    func ready(token: UInt64, events: IOEvents) {
        let index = Int(token)
        let c = conns[index]
        if c.closed { return }
        if events.contains(.writable) {
            flush(index)
            if c.closed { return }
        }
        if events.contains(.readable) || events.contains(.error) || events.contains(.hangup) {
            readAndHandle(index)
            if c.closed { return }
            if issuing || c.role == .watcher { refill(index, now: loop.now) }
            flush(index)
        }
        if draining { checkDrained() }
    }

    func fail(_ index: Int, _ why: String) {
        let c = conns[index]
        guard !c.closed else { return }
        counters.error(why)
        counters.errors["requests lost on closed connections", default: 0] += c.outstanding
        c.outstanding = 0
        loop.unregister(c.ch.fd)
        c.ch.fd.close()
        c.closed = true
    }

    func readAndHandle(_ index: Int) {
        let c = conns[index]
        var reads = 0
        // Four reads a wake-up (fairness), more while TLS holds decrypted bytes epoll cannot report.
        while reads < 4 || c.ch.hasHiddenInput {
            reads += 1
            switch c.ch.readOnce(minimumSpace: 16 * 1024) {
            case .wouldBlock: return
            case .endOfStream: fail(index, "connection closed by server"); return
            case .failed(let e): fail(index, "read: \(e)"); return
            case .bytes(_, let filled):
                handleFrames(c)
                if !filled { return }   // a short read drained the socket
            }
        }
    }

    /// Handles every whole response frame in the connection's input.
    func handleFrames(_ c: Conn) {
        while true {
            let buffer = c.ch.input.readable
            guard case .frame(let n) = Framing.scan(buffer, maxFrame: 1 << 26) else { return }
            let payload = UnsafeRawBufferPointer(rebasing: buffer[4 ..< 4 + n])
            if let r = Resp(payload) {
                handle(c, r)
            } else {
                counters.error("undecodable response")
            }
            c.ch.input.consume(4 + n)
        }
    }

    func handle(_ c: Conn, _ r: Resp) {
        let tag = Int(r.tag)
        guard tag >= 0, tag < c.sendTime.count, c.sendTime[tag] != 0 else {
            counters.error("response with unknown tag")
            return
        }
        let sent = c.sendTime[tag]
        let verb = c.tagVerb[tag]
        c.sendTime[tag] = 0
        c.freeTags.append(Int32(tag))
        c.outstanding -= 1
        let now = loop.now
        if c.role == .watcher {
            if r.errCode != 0 {
                if r.errCode == 4 {
                    // Fell out of the server's history window: count it, then resume at the
                    // newest write so the run keeps measuring (the missed events show as a shortfall).
                    c.tooLate += 1
                    c.nextWaitRev = max(c.nextWaitRev, maxWriterRev + 1)
                }
                counters.error(errorName(r.errCode))
                return
            }
            if r.rev <= c.lastEventRev { c.duplicates += 1; return }
            if c.lastEventRev > 0, r.rev != c.lastEventRev + 1 { c.gaps += 1 }
            c.lastEventRev = r.rev
            c.allEvents += 1
            if let p = r.path, p.starts(with: writerPrefix) {
                if let v = r.value, v.count >= 8 {
                    let stamp = v.loadUnaligned(as: Int64.self)
                    if stamp > 0, now > stamp { _ = eventLatency.record(UInt64(now - stamp)) }
                }
                c.delivered += 1
            }
            if c.nextWaitRev <= r.rev { c.nextWaitRev = r.rev + 1 }
            return
        }
        if r.errCode != 0 {
            counters.error(errorName(r.errCode))
            return
        }
        if c.role == .writer {
            writesOK += 1
            if r.rev > maxWriterRev { maxWriterRev = r.rev }
        }
        if case .probe = phase { counters.done += 1; return }
        guard measuring, !draining, sent >= measureStart else { return }
        if c.role == .reader {
            readerDone += 1
            _ = readerLatency.record(UInt64(max(1, now - sent)))
            return
        }
        counters.done += 1
        if verb == V.get { counters.reads += 1 } else { counters.writes += 1 }
        _ = latency.record(UInt64(max(1, now - sent)))
        if stopAfter > 0, counters.done >= stopAfter { endMeasurement() }
    }

    /// Keeps the connection's pipeline full with this phase's requests.
    func refill(_ index: Int, now: Int64) {
        let c = conns[index]
        switch c.role {
        case .idle:
            if case .probe = phase, issuing, c.allEvents == 0 {
                c.allEvents = 1
                send(c, verb: V.rev, path: nil, withValue: false, rev: nil)
            }
        case .writer:
            return   // paced by the timer
        case .reader:
            guard issuing, case .load = phase else { return }
            while c.outstanding < o.pipeline {
                let key = Int(random() % UInt64(keyPaths.count))
                keyPaths[key].withUnsafeBytes { p in send(c, verb: V.get, path: p, withValue: false, rev: nil) }
            }
        case .watcher:
            while c.outstanding < o.watchPipeline && (issuing || draining) {
                let rev = c.nextWaitRev
                c.nextWaitRev += 1
                pathStar.withUnsafeBytes { p in send(c, verb: V.wait, path: p, withValue: false, rev: rev) }
            }
        case .worker:
            guard issuing else { return }
            while c.outstanding < o.pipeline {
                switch phase {
                case .prefill(let total, let from):
                    guard issued < total else { return }
                    let k = from + issued
                    issued += 1
                    let path = Array("/bench/k\(k)".utf8)
                    path.withUnsafeBytes { p in send(c, verb: V.set, path: p, withValue: true, rev: -1) }
                case .load:
                    let key = Int(random() % UInt64(keyPaths.count))
                    let isRead: Bool
                    switch o.op {
                    case "get": isRead = true
                    case "set": isRead = false
                    default: isRead = Double(random() % 1_000_000) < o.readRatio * 1_000_000
                    }
                    keyPaths[key].withUnsafeBytes { p in
                        send(c, verb: isRead ? V.get : V.set, path: p, withValue: !isRead, rev: isRead ? nil : -1)
                    }
                default: return
                }
            }
        }
    }

    @inline(__always)
    func send(_ c: Conn, verb: UInt64, path: UnsafeRawBufferPointer?, withValue: Bool, rev: Int64?) {
        guard let tag = c.freeTags.popLast() else { return }
        c.outstanding += 1
        c.tagVerb[Int(tag)] = verb
        c.sendTime[Int(tag)] = ProcessEnvironment.monotonicNanoseconds()
        if withValue {
            value.withUnsafeBytes { v in
                appendRequest(&c.ch.output, tag: tag, verb: verb, path: path, value: v, rev: rev)
            }
        } else {
            appendRequest(&c.ch.output, tag: tag, verb: verb, path: path, value: nil, rev: rev)
        }
    }

    func flush(_ index: Int) {
        let c = conns[index]
        if c.closed { return }
        switch c.ch.flush() {
        case .drained:
            if c.ch.interest.contains(.writable) {
                c.ch.interest = .readable
                try? loop.update(c.ch.fd, interest: .readable, token: UInt64(index))
            }
        case .pending:
            if !c.ch.interest.contains(.writable) {
                c.ch.interest = [.readable, .writable]
                try? loop.update(c.ch.fd, interest: [.readable, .writable], token: UInt64(index))
            }
        case .failed(let e):
            fail(index, "write: \(e)")
        }
    }

    /// Sends the writes due by now, round-robin over writers with a free pipeline slot.
    func paceWriters() {
        let now = ProcessEnvironment.monotonicNanoseconds()
        let due = Int(o.rate * Double(now - writeStart) / 1e9)
        let writerIndices = conns.indices.filter { conns[$0].role == .writer && !conns[$0].closed }
        guard !writerIndices.isEmpty else { return }
        var touched = Set<Int>()
        while writesSent < due {
            var placed = false
            for _ in 0 ..< writerIndices.count {
                let index = writerIndices[writerRR % writerIndices.count]
                writerRR += 1
                let c = conns[index]
                if c.outstanding < o.writerWindow {
                    let k = writesSent % o.keys
                    // The value carries the send time, so watchers can time each delivery.
                    let stamp = ProcessEnvironment.monotonicNanoseconds()
                    withUnsafeBytes(of: stamp) { s in
                        for j in 0 ..< min(8, value.count) { value[j] = s[j] }
                    }
                    let path = writerPrefix + Array("\(k)".utf8)
                    path.withUnsafeBytes { p in send(c, verb: V.set, path: p, withValue: true, rev: -1) }
                    touched.insert(index)
                    writesSent += 1
                    placed = true
                    break
                }
            }
            if !placed { writesBehind = due - writesSent; break }
        }
        for index in touched { flush(index) }
    }
}
