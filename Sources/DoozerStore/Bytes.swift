// Small byte helpers shared by the tree, the glob matcher and the mutation codec.
// Everything here works on borrowed buffers and never allocates.

@usableFromInline let slash: UInt8 = 0x2F  // "/"

/// Bytewise lexicographic order (a proper prefix sorts first): -1, 0 or 1.
@inline(__always)
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    var i = 0
    while i &+ 8 <= n {
        let x = a.loadUnaligned(fromByteOffset: i, as: UInt64.self).bigEndian
        let y = b.loadUnaligned(fromByteOffset: i, as: UInt64.self).bigEndian
        if x != y { return x < y ? -1 : 1 }
        i &+= 8
    }
    while i < n {
        let x = a[i]
        let y = b[i]
        if x != y { return x < y ? -1 : 1 }
        i &+= 1
    }
    return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
}

/// -1 if every name starting with `prefix` sorts after `name`, 0 if `name` starts with
/// `prefix`, 1 if every such name sorts before `name`.
@inline(__always)
func compareToPrefix(_ name: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) -> Int {
    if name.count >= prefix.count {
        let c = compareBytes(UnsafeRawBufferPointer(rebasing: name[0..<prefix.count]), prefix)
        return c
    }
    return compareBytes(name, prefix)  // shorter: never starts with prefix, so never 0
}

@inline(__always)
func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && compareBytes(a, b) == 0
}

/// Index of the next "/" at or after `from`, or `buffer.count`.
@inline(__always)
func nextSlash(_ buffer: UnsafeRawBufferPointer, from: Int) -> Int {
    var j = from
    let n = buffer.count
    while j < n && buffer[j] != slash { j &+= 1 }
    return j
}

/// Treap priority of a name: SipHash with the process's random seed (Swift's `Hasher`), so a
/// client cannot choose names whose priorities degrade a directory's treap into a list. The
/// tree's shape therefore differs between processes; its contents and order never do.
/// (`SWIFT_DETERMINISTIC_HASHING=1` fixes the seed, for reproducing a shape.)
@inline(__always)
func namePriority(_ name: UnsafeRawBufferPointer) -> UInt32 {
    var hasher = Hasher()
    hasher.combine(bytes: name)
    return UInt32(truncatingIfNeeded: hasher.finalize())
}

/// Appends the signed decimal form of `v`.
@usableFromInline
func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
    if v < 0 { out.append(0x2D) }
    var m = v.magnitude
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // scratch, 24 bytes >= 20 digits
    var n = 0
    withUnsafeMutableBytes(of: &digits) { d in
        repeat {
            d[n] = UInt8(truncatingIfNeeded: m % 10) &+ 0x30
            m /= 10
            n &+= 1
        } while m != 0
        while n > 0 {
            n &-= 1
            out.append(d[n])
        }
    }
}

extension String {
    /// Runs `body` over the UTF-8 bytes of the string (no copy for native strings).
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var s = self
        return try s.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}
