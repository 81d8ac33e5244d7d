// The wire codec on the server's hot path, without any I/O: `RequestView` decoding of request
// payloads, `ResponseFields` encoding of a GET answer (frame header included), and
// `Framing.scan` of a buffered frame. None of them may allocate: the committed thresholds are 0.
//
// Inputs are built once (with the allocating `Request` encoder) and copied into buffers
// allocated up front; every inner iteration works on those buffers only.
// One measured iteration = 1,000 operations (`scalingFactor: .kilo`).
import Benchmark
import DoozerWire

/// A byte buffer allocated once and never freed (the process ends with the benchmark).
struct FixedBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(_ content: [UInt8]) {
        bytes = .allocate(byteCount: max(1, content.count), alignment: 16)
        bytes.copyBytes(from: content)
        raw = UnsafeRawBufferPointer(rebasing: bytes[0..<content.count])
    }

    init(capacity: Int) {
        bytes = .allocate(byteCount: capacity, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        raw = UnsafeRawBufferPointer(bytes)
    }

    /// The content (its exact length).
    let raw: UnsafeRawBufferPointer
}

enum Inputs {
    static let body64 = (0..<64).map { UInt8(ascii: "a") + UInt8($0 % 26) }
    /// `GET /ctl/name`, tag 1: what a client sends most.
    static let getPayload = FixedBuffer(Request(tag: 1, verb: .get, path: "/ctl/name").encoded())
    /// `SET /bench/file64` with a 64-byte body and a rev condition.
    static let setPayload = FixedBuffer(
        Request(tag: 7, verb: .set, path: "/bench/file64", value: body64, rev: 123_456).encoded())
    /// The GET request as a whole frame (header + payload) at the start of an input buffer.
    static let getFrame = FixedBuffer(Framing.frame(Request(tag: 1, verb: .get, path: "/ctl/name").encoded()))
    static let value64 = FixedBuffer(body64)
    /// Output buffer for the encoder.
    static let output = FixedBuffer(capacity: 4096)
}

let benchmarks: @Sendable () -> Void = {
    // No `.instructions`: it adds ~16 mallocs of the harness per measured iteration (README).
    let zeroAllocations = BenchmarkThresholds(absolute: BenchmarkThresholds.Absolute.strict)
    Benchmark.defaultConfiguration = .init(
        metrics: [.mallocCountTotal, .throughput, .wallClock],
        warmupIterations: 10,
        scalingFactor: .kilo,   // one measured iteration = 1,000 operations
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: zeroAllocations])

    // RequestView over a GET payload (tag, verb, path).
    Benchmark("Decode-GET-request", configuration: .init(setup: {
        let view = try RequestView(decoding: Inputs.getPayload.raw)
        guard view.tag == 1, view.verb == Verb.get.rawValue, view.path.map(Array.init) == Array("/ctl/name".utf8) else {
            fatalError("GET payload decoded wrong")
        }
    })) { benchmark in
        let payload = Inputs.getPayload.raw
        for _ in benchmark.scaledIterations {
            let view = try RequestView(decoding: payload)
            blackHole(view.tag)
            blackHole(view.verb)
            blackHole(view.path)
        }
    }

    // RequestView over a SET payload (tag, verb, path, 64-byte value, rev).
    Benchmark("Decode-SET-request", configuration: .init(setup: {
        let view = try RequestView(decoding: Inputs.setPayload.raw)
        guard view.tag == 7, view.verb == Verb.set.rawValue, view.rev == 123_456, view.value?.count == 64,
              view.path.map(Array.init) == Array("/bench/file64".utf8) else {
            fatalError("SET payload decoded wrong")
        }
    })) { benchmark in
        let payload = Inputs.setPayload.raw
        for _ in benchmark.scaledIterations {
            let view = try RequestView(decoding: payload)
            blackHole(view.tag)
            blackHole(view.verb)
            blackHole(view.path)
            blackHole(view.value)
            blackHole(view.rev)
        }
    }

    // The GET answer the server sends for a 64-byte file (tag, rev, value): size, 4-byte header,
    // then the payload, written straight into the output buffer.
    Benchmark("Encode-GET-response", configuration: .init(setup: {
        var fields = ResponseFields()
        fields.tag = 1
        fields.rev = 123_456
        fields.value = Inputs.value64.raw
        let count = fields.encodedCount
        Framing.writeHeader(count, to: Inputs.output.bytes.baseAddress!)
        fields.encode(to: Inputs.output.bytes.baseAddress! + Framing.headerSize)
        let framed = Array(Inputs.output.bytes[0..<(Framing.headerSize + count)])
        let back = try Response(decoding: Array(framed[Framing.headerSize...]))
        guard back == Response(tag: 1, rev: 123_456, value: Inputs.body64) else { fatalError("GET answer encoded wrong: \(back)") }
    })) { benchmark in
        let out = Inputs.output.bytes.baseAddress!
        let value = Inputs.value64.raw
        for i in benchmark.scaledIterations {
            var fields = ResponseFields()
            fields.tag = Int32(truncatingIfNeeded: i)
            fields.rev = 123_456
            fields.value = value
            let count = fields.encodedCount
            Framing.writeHeader(count, to: out)
            fields.encode(to: out + Framing.headerSize)
            blackHole(count)
        }
        blackHole(out.load(as: UInt8.self))
    }

    // Framing.scan of an input buffer that holds one whole GET frame.
    Benchmark("Scan-frame", configuration: .init(setup: {
        guard Framing.scan(Inputs.getFrame.raw, maxFrame: Framing.defaultMaxFrame)
                == .frame(payloadCount: Inputs.getFrame.raw.count - Framing.headerSize) else {
            fatalError("frame not found")
        }
    })) { benchmark in
        let input = Inputs.getFrame.raw
        for _ in benchmark.scaledIterations {
            blackHole(Framing.scan(input, maxFrame: Framing.defaultMaxFrame))
        }
    }
}
