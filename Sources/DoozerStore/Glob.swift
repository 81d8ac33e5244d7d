/// A compiled glob pattern (§3.8): `?` one non-slash byte, `*` zero or more non-slash bytes,
/// `**` zero or more of any bytes, `***` = `**` then `*`; anchored at both ends.
///
/// Owns the validated pattern and its token form. Matching is a bit-parallel NFA simulation
/// over bytes — O(path × pattern) worst case, no backtracking, no regex library, and it never
/// allocates (patterns of 64+ tokens use a stack scratch buffer).
public struct Glob: Sendable {
    /// The pattern exactly as given.
    public let pattern: [UInt8]
    /// Token form: literal bytes, `?` (0x3F), `*` (0x2A) for a single star, 0x00 for `**`.
    @usableFromInline let tokens: [UInt8]
    /// Number of leading literal tokens (= byte length of the literal prefix).
    @usableFromInline let prefixCount: Int
    /// Bits j where token j is `*` or `**` (single-word NFA only).
    @usableFromInline let starMask: UInt64
    @usableFromInline let kind: Kind
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
                if i + 1 < pattern.count && pattern[i + 1] == 0x2A {
                    toks.append(Glob.anyToken)
                    i += 2
                    continue
                }
                toks.append(Glob.starToken)
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
    }

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
            case .nfaLong: return matchLong(tk, path)
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

    /// Same automaton with one byte per state in a stack scratch buffer, for long patterns.
    private func matchLong(_ tk: UnsafeRawBufferPointer, _ path: UnsafeRawBufferPointer) -> Bool {
        let m = tk.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * (m + 1)) { scratch in
            var cur = UnsafeMutableBufferPointer(rebasing: scratch[0...m])
            var nxt = UnsafeMutableBufferPointer(rebasing: scratch[(m + 1)...])
            cur.initialize(repeating: 0)
            nxt.initialize(repeating: 0)
            @inline(__always) func close(_ s: UnsafeMutableBufferPointer<UInt8>) {
                for j in 0..<m where s[j] != 0 && (tk[j] == Glob.anyToken || tk[j] == Glob.starToken) {
                    s[j + 1] = 1
                }
            }
            cur[prefixCount] = 1
            close(cur)
            var i = prefixCount
            while i < path.count {
                let c = path[i]
                var any = false
                for j in 0...m { nxt[j] = 0 }
                for j in 0..<m where cur[j] != 0 {
                    switch tk[j] {
                    case Glob.anyToken: nxt[j] = 1; any = true
                    case Glob.starToken: if c != slash { nxt[j] = 1; any = true }
                    case Glob.oneToken: if c != slash { nxt[j + 1] = 1; any = true }
                    case let t: if c == t { nxt[j + 1] = 1; any = true }
                    }
                }
                if !any { return false }
                close(nxt)
                swap(&cur, &nxt)
                i += 1
            }
            return cur[m] != 0
        }
    }
}

extension Glob: Equatable {
    public static func == (a: Glob, b: Glob) -> Bool { a.pattern == b.pattern }
}
