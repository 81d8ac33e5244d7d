import DoozerWire

/// Frames scanned as the server scans its input, each payload decoded as `RequestView`; a
/// decoded request must survive encoding and decoding unchanged.
enum RequestTarget {
    static let maxFrame = 1 << 20

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        var rest = input
        while case .frame(let count) = Framing.scan(rest, maxFrame: maxFrame) {
            let end = Framing.headerSize + count
            try expect(end <= rest.count, "frame of \(count) bytes runs past the \(rest.count) scanned")
            let payload = UnsafeRawBufferPointer(rebasing: rest[Framing.headerSize..<end])
            rest = UnsafeRawBufferPointer(rebasing: rest[end...])
            guard let view = try? RequestView(decoding: payload) else { continue }
            let request = Request(view)
            let again: Request
            do { again = try Request(decoding: request.encoded()) } catch {
                throw FuzzFailure("re-encoded request \(request) does not decode: \(error)")
            }
            try expect(again == request, "request \(request) decodes back as \(again)")
        }
    }

    static var seeds: [[UInt8]] {
        let requests = [
            Request(tag: 0, verb: .get, path: "/ctl/node/a"),
            Request(tag: 1, verb: .set, path: "/a/b", value: Array("body\u{0}=:".utf8), rev: -1),
            Request(tag: 2, verb: .wait, path: "/a/**", rev: 7),
            Request(tag: 3, verb: .walk, path: "/**", offset: 3, rev: 9),
            Request(tag: -5, verb: 99, otherTag: 2),
        ]
        var pipelined: [UInt8] = []
        for request in requests { pipelined += Framing.frame(request.encoded()) }
        return requests.map { Framing.frame($0.encoded()) } + [pipelined]
    }
}

/// `Response` payloads as the client decodes them; a decoded response must survive encoding
/// and decoding unchanged.
enum ResponseTarget {
    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        guard let response = try? Response(decoding: Array(input)) else { return }
        let again: Response
        do { again = try Response(decoding: response.encoded()) } catch {
            throw FuzzFailure("re-encoded response \(response) does not decode: \(error)")
        }
        try expect(again == response, "response \(response) decodes back as \(again)")
    }

    static var seeds: [[UInt8]] {
        [
            Response(tag: 0, flags: 4, rev: 12, path: "/a", value: Array("hello".utf8), len: 5),
            Response(tag: 1, flags: 6, rev: 3, path: "/a/b", value: [0, 0xff, 0x3d]),
            Response(tag: 2, errCode: .revMismatch),
            Response(tag: 3, errCode: 20, errDetail: "invalid glob pattern: /a/"),
            Response(tag: Int32.min, rev: Int64.max),
        ].map { $0.encoded() }
    }
}
