/// Path syntax (§3.1): `^/$|^(/[A-Za-z0-9.-]+)+$`, ASCII only, case-sensitive.
/// Owns only the validity rule; it never normalises (`.` and `..` are ordinary names).
public enum PathSyntax {
    /// True iff `path` is `/` or one or more `/name` components of `[A-Za-z0-9.-]+`.
    @inlinable
    public static func isValid(_ path: UnsafeRawBufferPointer) -> Bool {
        check(path, allowWildcards: false)
    }

    public static func isValid(_ path: String) -> Bool {
        path.withBytes { isValid($0) }
    }

    public static func isValid(_ path: [UInt8]) -> Bool {
        path.withUnsafeBytes { isValid($0) }
    }

    /// Shared by paths and globs (globs additionally allow `*` and `?` in components).
    @usableFromInline
    static func check(_ p: UnsafeRawBufferPointer, allowWildcards: Bool) -> Bool {
        let n = p.count
        if n == 0 || p[0] != 0x2F { return false }
        if n == 1 { return true }
        var prevSlash = true
        for i in 1..<n {
            let c = p[i]
            if c == 0x2F {
                if prevSlash { return false }
                prevSlash = true
            } else if isNameByteInline(c) || (allowWildcards && (c == 0x2A || c == 0x3F)) {
                prevSlash = false
            } else {
                return false
            }
        }
        return !prevSlash
    }

    @inlinable @inline(__always)
    static func isNameByteInline(_ c: UInt8) -> Bool {
        switch c {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2E, 0x2D: return true
        default: return false
        }
    }
}
