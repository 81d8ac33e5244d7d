/// Why a mutation failed (§3.5 step 5). A failed mutation still consumes its seqn and is
/// recorded as an unconditional write of `text` to `/ctl/err`.
public enum MutationError: Error, Equatable, Sendable {
    case revMismatch, notDirectory, isDirectory, badPath, badMutation, badRev

    /// The exact bytes written to `/ctl/err` (the first five match the original byte for byte).
    public var text: String {
        switch self {
        case .revMismatch: return "rev mismatch"
        case .notDirectory: return "not a directory"
        case .isDirectory: return "is a directory"
        case .badPath: return "bad path"
        case .badMutation: return "bad mutation"
        case .badRev: return "bad rev"
        }
    }

    var textBytes: [UInt8] {
        switch self {
        case .revMismatch: return MutationError.revMismatchBytes
        case .notDirectory: return MutationError.notDirectoryBytes
        case .isDirectory: return MutationError.isDirectoryBytes
        case .badPath: return MutationError.badPathBytes
        case .badMutation: return MutationError.badMutationBytes
        case .badRev: return MutationError.badRevBytes
        }
    }

    // Shared arrays: a failed write's event body and the /ctl/err file retain these.
    private static let revMismatchBytes = Array("rev mismatch".utf8)
    private static let notDirectoryBytes = Array("not a directory".utf8)
    private static let isDirectoryBytes = Array("is a directory".utf8)
    private static let badPathBytes = Array("bad path".utf8)
    private static let badMutationBytes = Array("bad mutation".utf8)
    private static let badRevBytes = Array("bad rev".utf8)
}

/// The mutation byte encoding (§3.4): `REV:PATH=BODY` (set), `REV:PATH` (delete), `nop:`.
/// Owns encoding and decoding only; it never looks at a tree.
public enum Mutation {
    /// Exactly the four bytes `nop:`.
    public static let nop: [UInt8] = [0x6E, 0x6F, 0x70, 0x3A]

    /// `REV:PATH=BODY`. The path is copied verbatim (not validated here).
    @inlinable  // specialised where it is called: the server builds one per write
    public static func set(_ path: some Collection<UInt8>, rev: Int64, body: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.count + body.count + 22)
        appendDecimal(rev, to: &out)
        out.append(0x3A)
        out.append(contentsOf: path)
        out.append(0x3D)
        out.append(contentsOf: body)
        return out
    }

    /// `REV:PATH`.
    @inlinable
    public static func delete(_ path: some Collection<UInt8>, rev: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.count + 21)
        appendDecimal(rev, to: &out)
        out.append(0x3A)
        out.append(contentsOf: path)
        return out
    }

    public static func set(_ path: String, rev: Int64, body: String) -> [UInt8] {
        set(path.utf8, rev: rev, body: body.utf8)
    }

    public static func delete(_ path: String, rev: Int64) -> [UInt8] {
        delete(path.utf8, rev: rev)
    }

    /// A decoded mutation; ranges index into the decoded buffer.
    public enum Decoded: Equatable, Sendable {
        case nop
        case set(rev: Int64, path: Range<Int>, body: Range<Int>)
        case delete(rev: Int64, path: Range<Int>)
    }

    /// Decodes per §3.4: `nop:`; else split at the first `:` (none → badMutation), parse the
    /// left part as a signed decimal Int64 (else badRev), split the rest at the first `=`
    /// (none → delete), validate the path (else badPath).
    public static func decode(_ m: UnsafeRawBufferPointer) throws(MutationError) -> Decoded {
        let n = m.count
        if n == 4 && m[0] == 0x6E && m[1] == 0x6F && m[2] == 0x70 && m[3] == 0x3A { return .nop }
        var colon = 0
        while colon < n && m[colon] != 0x3A { colon += 1 }
        if colon == n { throw .badMutation }
        guard let rev = parseInt64(UnsafeRawBufferPointer(rebasing: m[0..<colon])) else { throw .badRev }
        var eq = colon + 1
        while eq < n && m[eq] != 0x3D { eq += 1 }
        let path = (colon + 1)..<eq
        guard PathSyntax.isValid(UnsafeRawBufferPointer(rebasing: m[path])) else { throw .badPath }
        if eq == n { return .delete(rev: rev, path: path) }
        return .set(rev: rev, path: path, body: (eq + 1)..<n)
    }

    public static func decode(_ m: [UInt8]) throws(MutationError) -> Decoded {
        let r: Result<Decoded, MutationError> = m.withUnsafeBytes { b in
            do throws(MutationError) { return .success(try decode(b)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Signed decimal (optional leading `+`/`-`), overflow-checked, like Go's ParseInt(s, 10, 64).
    static func parseInt64(_ s: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        var negative = false
        if s.count > 0 && (s[0] == 0x2D || s[0] == 0x2B) {
            negative = s[0] == 0x2D
            i = 1
        }
        if i == s.count { return nil }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        var v: UInt64 = 0
        while i < s.count {
            let d = s[i] &- 0x30
            if d > 9 { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 || a > limit { return nil }
            v = a
            i += 1
        }
        return negative ? Int64(truncatingIfNeeded: 0 &- v) : Int64(v)
    }
}
