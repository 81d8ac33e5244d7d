import DoozerWeb

/// HTTP request heads. The first input byte picks how the rest arrives in pieces; the parser
/// must answer the same whether it sees the bytes at once or piece by piece (as reads deliver
/// them), and a head it accepts must lie inside its input.
enum HTTPTarget {
    static let maxHeadSize = 1024
    static let maxHeaderCount = 16

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        guard let first = input.first else { return }
        let step = Int(first % 31) + 1
        let stream = UnsafeRawBufferPointer(rebasing: input[1...])
        var whole = HTTPHeadParser(maxHeadSize: maxHeadSize, maxHeaderCount: maxHeaderCount)
        let once = whole.parse(stream)
        if case .head(let head, let length) = once {
            try expect(length > 0 && length <= stream.count, "head of \(length) bytes in \(stream.count)")
            _ = head.header("authorization")
            _ = head.queryParameter("token")
        }
        var pieces = HTTPHeadParser(maxHeadSize: maxHeadSize, maxHeaderCount: maxHeaderCount)
        var seen = 0
        while seen < stream.count {
            seen = min(stream.count, seen + step)
            let outcome = pieces.parse(UnsafeRawBufferPointer(rebasing: stream[..<seen]))
            if outcome == .incomplete { continue }
            try expect(outcome == once, "in pieces of \(step): \(outcome) after \(seen) bytes; at once: \(once)")
            return
        }
        try expect(once == .incomplete, "in pieces of \(step): incomplete; at once: \(once)")
    }

    static var seeds: [[UInt8]] {
        [
            "\u{0}GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "\u{3}GET /d/a/b?token=x%20y&q=1 HTTP/1.0\r\nAuthorization: Basic Zm9vOmJhcg==\r\n\r\n",
            "\u{7}\r\nPOST /$events HTTP/1.1\nX:  y \n\n",
            "\u{1}GET /%zz HTTP/2.0\r\n\r\n",
        ].map { Array($0.utf8) }
    }
}
