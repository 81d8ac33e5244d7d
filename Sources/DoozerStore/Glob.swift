/// A compiled glob pattern (§3.8): `?` one non-slash byte, `*` zero or more non-slash bytes,
/// `**` zero or more of any bytes, `***` = `**` then `*`; anchored at both ends.
///
/// Owns the validated pattern and its token form. Matching is a bit-parallel NFA simulation
/// over bytes (shift-and): one step per path byte over ⌈(tokens + 1) / 64⌉ machine words, so
/// O(path × pattern / 64) worst case, linear in the path for a pattern of bounded length (the
/// server bounds it with `-maxglob`). No backtracking, no regex library, and matching never
/// allocates (patterns of 64+ tokens use a stack scratch buffer and masks built once, at
/// compile time).
public struct Glob: Sendable {
    /// The pattern exactly as given.
    public let pattern: [UInt8]
    /// Token form: literal bytes, `?` (0x3F), `*` (0x2A) for a single star, 0x00 for `**`.
    /// A run of stars is one token (`**` if it holds one, else `*`): it matches the same, and
    /// no two star tokens are adjacent, so one shift closes a state set over them.
    @usableFromInline let tokens: [UInt8]
    /// Number of leading literal tokens (= byte length of the literal prefix).
    @usableFromInline let prefixCount: Int
    /// Bits j where token j is `*` or `**` (single-word NFA only).
    @usableFromInline let starMask: UInt64
    @usableFromInline let kind: Kind
    /// The shift-and masks of a pattern of 64 or more tokens (`nfaLong`), else nil.
    let long: LongMasks?
    /// Number of `/` in the pattern; without `**` a match has exactly this many.
    @usableFromInline let slashCount: Int

    @usableFromInline
    enum Kind: UInt8, Sendable {
        case literal      // no wildcard: equality
        case prefixAny    // literal prefix followed by one `**`: prefix test
        case nfa          // anything else, at most 63 tokens
        case nfaLong      // anything else
    }

    @usableFromInline static let anyToken: UInt8 = 0x00
    @usableFromInline static let starToken: UInt8 = 0x2A
    @usableFromInline static let oneToken: UInt8 = 0x3F

    /// Compiles `pattern`; nil if it fails `^/$|^(/([A-Za-z0-9.-]|[*?])+)+$`.
    public init?(_ pattern: UnsafeRawBufferPointer) {
        guard PathSyntax.check(pattern, allowWildcards: true) else { return nil }
        self.pattern = Array(pattern)
        var toks: [UInt8] = []
        toks.reserveCapacity(pattern.count)
        var i = 0
        var slashes = 0
        while i < pattern.count {
            let c = pattern[i]
            if c == 0x2A {
                var run = i + 1
                while run < pattern.count && pattern[run] == 0x2A { run += 1 }
                toks.append(run - i >= 2 ? Glob.anyToken : Glob.starToken)
                i = run
                continue
            } else {
                if c == slash { slashes += 1 }
                toks.append(c)
            }
            i += 1
        }
        var prefix = 0
        while prefix < toks.count && toks[prefix] != Glob.anyToken && toks[prefix] != Glob.starToken
            && toks[prefix] != Glob.oneToken
        {
            prefix += 1
        }
        var mask: UInt64 = 0
        for (j, t) in toks.enumerated() where j < 64 && (t == Glob.anyToken || t == Glob.starToken) {
            mask |= 1 << UInt64(j)
        }
        self.tokens = toks
        self.prefixCount = prefix
        self.starMask = mask
        self.slashCount = slashes
        if prefix == toks.count {
            self.kind = .literal
        } else if prefix == toks.count - 1 && toks[prefix] == Glob.anyToken {
            self.kind = .prefixAny
        } else if toks.count < 64 {
            self.kind = .nfa
        } else {
            self.kind = .nfaLong
        }
        self.long = kind == .nfaLong ? LongMasks(toks) : nil
    }

    /// Machine words one step of the matcher touches: what matching a path costs per byte.
    public var wordsPerByte: Int { long?.words ?? 1 }

    public init?(_ pattern: String) {
        guard let g = pattern.withBytes({ Glob($0) }) else { return nil }
        self = g
    }

    public init?(_ pattern: [UInt8]) {
        guard let g = pattern.withUnsafeBytes({ Glob($0) }) else { return nil }
        self = g
    }

    /// The bytes before the first `*` or `?`: every matching path starts with them.
    public var literalPrefix: ArraySlice<UInt8> { tokens[0..<prefixCount] }

    /// Whether this glob was compiled from exactly `bytes`.
    public func hasPattern(_ bytes: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { bytesEqual($0, bytes) }
    }

    /// Calls `body` with the literal prefix's bytes, without copying them.
    @inlinable
    public func withLiteralPrefix<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try tokens.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<prefixCount])) }
    }

    /// True when the pattern contains `**` (matches may be arbitrarily deep).
    public var hasDoubleStar: Bool { tokens.contains(Glob.anyToken) }

    /// Whole-path, anchored match. Never allocates.
    public func matches(_ path: UnsafeRawBufferPointer) -> Bool {
        let n = path.count
        let p = prefixCount
        if n < p { return false }
        return tokens.withUnsafeBytes { tk -> Bool in
            if p > 0 {
                if path[0] != tk[0] { return false }
                if !bytesEqual(UnsafeRawBufferPointer(rebasing: path[0..<p]),
                               UnsafeRawBufferPointer(rebasing: tk[0..<p])) { return false }
            }
            switch kind {
            case .literal: return n == p
            case .prefixAny: return true
            case .nfa: return matchShort(tk, path)
            case .nfaLong: return matchLong(path)
            }
        }
    }

    public func matches(_ path: [UInt8]) -> Bool {
        path.withUnsafeBytes { matches($0) }
    }

    public func matches(_ path: String) -> Bool {
        path.withBytes { matches($0) }
    }

    /// States 0...m in one UInt64 (m ≤ 63); bit j = "the first j tokens matched".
    @inline(__always)
    private func matchShort(_ tk: UnsafeRawBufferPointer, _ path: UnsafeRawBufferPointer) -> Bool {
        let m = tk.count
        let accept: UInt64 = 1 << UInt64(m)
        let stars = starMask
        @inline(__always) func close(_ s: UInt64) -> UInt64 {
            var x = s
            while true {
                let add = ((x & stars) << 1) & ~x
                if add == 0 { return x }
                x |= add
            }
        }
        var s = close(1 << UInt64(prefixCount))
        var i = prefixCount
        let n = path.count
        while i < n {
            let c = path[i]
            var next: UInt64 = 0
            var bits = s & ~accept
            while bits != 0 {
                let j = bits.trailingZeroBitCount
                bits &= bits &- 1
                let bit: UInt64 = 1 << UInt64(j)
                switch tk[j] {
                case Glob.anyToken: next |= bit
                case Glob.starToken: if c != slash { next |= bit }
                case Glob.oneToken: if c != slash { next |= bit << 1 }
                case let t: if c == t { next |= bit << 1 }
                }
            }
            if next == 0 { return false }
            s = close(next)
            i &+= 1
        }
        return s & accept != 0
    }

    /// The same automaton over ⌈(m + 1) / 64⌉ words, for patterns of 64 or more tokens: per
    /// path byte, one pass over the words shifts the states that accept the byte, keeps the
    /// stars' self-loops, and closes over the stars (one shift: stars are never adjacent).
    private func matchLong(_ path: UnsafeRawBufferPointer) -> Bool {
        let masks = long!
        let words = masks.words
        let m = tokens.count
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * words) { scratch in
            scratch.initialize(repeating: 0)
            var cur = UnsafeMutableBufferPointer(rebasing: scratch[0..<words])
            var nxt = UnsafeMutableBufferPointer(rebasing: scratch[words...])
            return masks.rows.withUnsafeBufferPointer { rows in
                let stars = UnsafeBufferPointer(rebasing: rows[(LongMasks.starsRow * words)...])
                // The start state, closed over a star it may sit on.
                let p = prefixCount
                cur[p >> 6] = 1 << UInt64(p & 63)
                if p < m && stars[p >> 6] & cur[p >> 6] != 0 {
                    let q = p + 1
                    cur[q >> 6] |= 1 << UInt64(q & 63)
                }
                var i = p
                while i < path.count {
                    let c = path[i]
                    let notSlash: UInt64 = c == slash ? 0 : ~0
                    let lit = rows.baseAddress! + Int(masks.rowOf[Int(c)]) * words
                    let one = rows.baseAddress! + LongMasks.oneRow * words
                    let star = rows.baseAddress! + LongMasks.starRow * words
                    let any = rows.baseAddress! + LongMasks.anyRow * words
                    var shiftCarry: UInt64 = 0
                    var closeCarry: UInt64 = 0
                    var alive: UInt64 = 0
                    for w in 0..<words {
                        let s = cur[w]
                        let advance = s & (lit[w] | (one[w] & notSlash))
                        var n = (advance << 1) | shiftCarry | (s & (any[w] | (star[w] & notSlash)))
                        shiftCarry = advance >> 63
                        let onStar = n & stars[w]
                        n |= (onStar << 1) | closeCarry
                        closeCarry = onStar >> 63
                        nxt[w] = n
                        alive |= n
                    }
                    if alive == 0 { return false }
                    swap(&cur, &nxt)
                    i &+= 1
                }
                return cur[m >> 6] & (1 << UInt64(m & 63)) != 0
            }
        }
    }
}

/// The shift-and masks of a long pattern: for each row, bit j of the states (j < tokens) says
/// whether token j is `**`, `*`, `?`, a star of either kind, or a given literal byte. Built
/// once per compiled glob; immutable, hence shareable between threads.
final class LongMasks: Sendable {
    static let anyRow = 0
    static let starRow = 1
    static let oneRow = 2
    static let starsRow = 3
    /// All zero: the row of every byte that no literal token holds.
    static let noLiteralRow = 4

    /// Words per row: states 0...tokens.
    let words: Int
    /// Rows, each `words` long, one after another: the fixed rows above, then one per
    /// distinct literal byte.
    let rows: [UInt64]
    /// The row of each byte value's literal tokens.
    let rowOf: [UInt8]

    init(_ tokens: [UInt8]) {
        let words = (tokens.count + 1 + 63) / 64
        var rowOf = [UInt8](repeating: UInt8(Self.noLiteralRow), count: 256)
        var count = Self.noLiteralRow + 1
        for t in tokens where t != Glob.anyToken && t != Glob.starToken && t != Glob.oneToken
            && rowOf[Int(t)] == UInt8(Self.noLiteralRow)
        {
            rowOf[Int(t)] = UInt8(count)   // at most 65 literal bytes: / and the name bytes
            count += 1
        }
        var rows = [UInt64](repeating: 0, count: count * words)
        for (j, t) in tokens.enumerated() {
            let bit: UInt64 = 1 << UInt64(j & 63)
            let w = j >> 6
            switch t {
            case Glob.anyToken:
                rows[Self.anyRow * words + w] |= bit
                rows[Self.starsRow * words + w] |= bit
            case Glob.starToken:
                rows[Self.starRow * words + w] |= bit
                rows[Self.starsRow * words + w] |= bit
            case Glob.oneToken:
                rows[Self.oneRow * words + w] |= bit
            default:
                rows[Int(rowOf[Int(t)]) * words + w] |= bit
            }
        }
        self.words = words
        self.rows = rows
        self.rowOf = rowOf
    }
}

extension Glob: Equatable {
    public static func == (a: Glob, b: Glob) -> Bool { a.pattern == b.pattern }
}
