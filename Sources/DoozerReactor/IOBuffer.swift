/// A byte region with a read cursor and a write cursor, allocated once up front. Readable
/// bytes are always contiguous: instead of wrapping around, the buffer slides its readable
/// bytes to the front when the tail runs out, so a frame can be decoded in place. It grows
/// only when a single frame needs more room than it has, and `shrinkIfSmall` gives that room
/// back. Owns its memory; never shares it.
public struct IOBuffer: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var readerIndex = 0
    @usableFromInline var writerIndex = 0
    /// The size it was created with, and returns to when idle.
    public let initialCapacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0)
        base = .allocate(byteCount: capacity, alignment: 16)
        self.capacity = capacity
        initialCapacity = capacity
    }

    deinit { base.deallocate() }

    /// Bytes written and not yet consumed.
    @inlinable public var readableCount: Int { writerIndex &- readerIndex }
    @inlinable public var isEmpty: Bool { readerIndex == writerIndex }
    /// Bytes of memory held.
    @inlinable public var allocatedCount: Int { capacity }

    /// The readable bytes; valid until the next mutating call.
    @inlinable public var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + readerIndex, count: writerIndex &- readerIndex)
    }

    /// Marks `count` readable bytes as consumed.
    @inlinable public mutating func consume(_ count: Int) {
        precondition(count <= readableCount)
        readerIndex &+= count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Free space after the written bytes, sliding or growing so at least `minimum` bytes
    /// are free. Write into it, then `commit` what was written.
    @inlinable public mutating func writableSpace(minimum: Int) -> UnsafeMutableRawBufferPointer {
        if capacity &- writerIndex < minimum { makeRoom(minimum) }
        return UnsafeMutableRawBufferPointer(start: base + writerIndex, count: capacity &- writerIndex)
    }

    @inlinable public mutating func commit(_ count: Int) {
        precondition(writerIndex &+ count <= capacity)
        writerIndex &+= count
    }

    /// Appends bytes, making room as needed.
    @inlinable public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let space = writableSpace(minimum: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            space.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        }
        commit(bytes.count)
    }

    @usableFromInline mutating func makeRoom(_ minimum: Int) {
        let live = readableCount
        if readerIndex > 0 {
            if live > 0 { base.copyMemory(from: base + readerIndex, byteCount: live) }
            readerIndex = 0
            writerIndex = live
        }
        guard capacity - live < minimum else { return }
        let newCapacity = max(capacity * 2, live + minimum)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if live > 0 { grown.copyMemory(from: base, byteCount: live) }
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    /// Returns to the initial allocation once it had grown and what it holds fits in half
    /// of that again.
    public mutating func shrinkIfSmall() {
        let live = readableCount
        guard capacity > initialCapacity, live <= initialCapacity / 2 else { return }
        let small = UnsafeMutableRawPointer.allocate(byteCount: initialCapacity, alignment: 16)
        if live > 0 { small.copyMemory(from: base + readerIndex, byteCount: live) }
        base.deallocate()
        base = small
        capacity = initialCapacity
        readerIndex = 0
        writerIndex = live
    }
}
