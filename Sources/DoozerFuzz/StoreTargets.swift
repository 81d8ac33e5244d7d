import DoozerStore

/// `Mutation.decode` over any bytes: the ranges it returns lie inside the input, and a decoded
/// mutation re-encodes to one that decodes the same.
enum MutationTarget {
    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        guard let decoded = try? Mutation.decode(input) else { return }
        switch decoded {
        case .nop:
            try expect(input.elementsEqual(Mutation.nop), "\(Array(input)) decodes as nop")
        case .set(let rev, let path, let body):
            try expect(path.lowerBound >= 0 && path.upperBound <= input.count && body.upperBound == input.count
                       && path.upperBound < body.lowerBound, "set ranges \(path) \(body) outside \(input.count) bytes")
            let again = Mutation.set(input[path], rev: rev, body: input[body])
            try expect(decodesTo(again, rev: rev, path: input[path], body: input[body]),
                       "set \(Array(input)) re-encodes as \(again)")
        case .delete(let rev, let path):
            try expect(path.lowerBound >= 0 && path.upperBound == input.count,
                       "delete range \(path) outside \(input.count) bytes")
            let again = Mutation.delete(input[path], rev: rev)
            try expect(decodesTo(again, rev: rev, path: input[path], body: nil),
                       "delete \(Array(input)) re-encodes as \(again)")
        }
    }

    private static func decodesTo(_ encoded: [UInt8], rev: Int64, path: Slice<UnsafeRawBufferPointer>,
                                  body: Slice<UnsafeRawBufferPointer>?) -> Bool {
        switch try? Mutation.decode(encoded) {
        case .set(let r, let p, let b):
            return r == rev && body.map { encoded[b].elementsEqual($0) } == true && encoded[p].elementsEqual(path)
        case .delete(let r, let p):
            return r == rev && body == nil && encoded[p].elementsEqual(path)
        case .nop, nil:
            return false
        }
    }

    static var seeds: [[UInt8]] {
        [
            Mutation.nop,
            Mutation.set("/a/b", rev: 3, body: "x=y:z"),
            Mutation.set("/ctl/node/a", rev: -1, body: ""),
            Mutation.delete("/a", rev: Int64.max),
            Array("+0:/a".utf8),
            Array("-9223372036854775808:/b=".utf8),
        ]
    }
}

/// Glob compilation and matching. The input is a pattern, then paths, separated by newlines.
/// Every compiled pattern matches exactly what a reference matcher (a table over pattern
/// tokens × path bytes, straight from §3.8) matches, within sizes where the table is cheap;
/// larger ones only have to match without trapping.
enum GlobTarget {
    /// Largest pattern and path compared with the reference.
    static let referencePattern = 160
    static let referencePath = 256

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        let lines = input.split(separator: 0x0A, omittingEmptySubsequences: false)
        guard let patternLine = lines.first else { return }
        let pattern = Array(patternLine)
        let glob = Glob(pattern)
        let compared = pattern.count <= referencePattern  // far below any bound on pattern length
        if compared {
            try expect((glob != nil) == isValidPattern(pattern), "Glob accepts \(pattern): \(glob != nil)")
        }
        guard let glob else { return }
        let tokens = compared ? tokenize(pattern) : nil
        for line in lines.dropFirst() {
            let path = Array(line)
            let matched = glob.matches(path)
            if matched {
                try expect(path.starts(with: glob.literalPrefix), "\(path) matches \(pattern) without its literal prefix")
            }
            if let tokens, path.count <= referencePath {
                let expected = referenceMatch(tokens, path)
                try expect(matched == expected, "\(pattern) matches \(path): \(matched), reference: \(expected)")
            }
        }
    }

    /// `^/$|^(/([A-Za-z0-9.-]|[*?])+)+$`
    static func isValidPattern(_ p: [UInt8]) -> Bool {
        if p == [0x2F] { return true }
        guard p.first == 0x2F, p.last != 0x2F else { return false }
        var previous: UInt8 = 0
        for byte in p {
            let allowed = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x2D || byte == 0x2A || byte == 0x3F
            guard allowed || (byte == 0x2F && previous != 0x2F) else { return false }
            previous = byte
        }
        return true
    }

    enum Token: Equatable {
        case byte(UInt8), one, star, any
    }

    /// Left to right: `**` is any bytes, a lone `*` non-slash bytes, `?` one non-slash byte.
    static func tokenize(_ pattern: [UInt8]) -> [Token] {
        var tokens: [Token] = []
        var i = 0
        while i < pattern.count {
            switch pattern[i] {
            case 0x2A where i + 1 < pattern.count && pattern[i + 1] == 0x2A:
                tokens.append(.any)
                i += 1
            case 0x2A: tokens.append(.star)
            case 0x3F: tokens.append(.one)
            case let byte: tokens.append(.byte(byte))
            }
            i += 1
        }
        return tokens
    }

    /// Whether `tokens[i...]` matches `path[j...]`, filled from the ends backwards.
    static func referenceMatch(_ tokens: [Token], _ path: [UInt8]) -> Bool {
        let width = path.count + 1
        var table = [Bool](repeating: false, count: (tokens.count + 1) * width)
        table[tokens.count * width + path.count] = true
        for i in stride(from: tokens.count - 1, through: 0, by: -1) {
            for j in stride(from: path.count, through: 0, by: -1) {
                let next = j < path.count
                let nonSlash = next && path[j] != 0x2F
                let here: Bool
                switch tokens[i] {
                case .byte(let b): here = next && path[j] == b && table[(i + 1) * width + j + 1]
                case .one: here = nonSlash && table[(i + 1) * width + j + 1]
                case .star: here = table[(i + 1) * width + j] || (nonSlash && table[i * width + j + 1])
                case .any: here = table[(i + 1) * width + j] || (next && table[i * width + j + 1])
                }
                table[i * width + j] = here
            }
        }
        return table[0]
    }

    static var seeds: [[UInt8]] {
        [
            "/a/*/c\n/a/b/c\n/a//c\n/a/b/d/c",
            "/**\n/\n/a\n/a/b/c",
            "/a/**/z?\n/a/z1\n/a/b/c/zz\n/a/zz/",
            "/***.txt\n/a.txt\n/a/b.txt",
            "/ctl/node/*/addr\n/ctl/node/ABC/addr",
            "/" + String(repeating: "?*", count: 40) + "\n/" + String(repeating: "x", count: 90),
        ].map { Array($0.utf8) }
    }
}
