import CShims
#if canImport(Glibc)
import Glibc
#endif

/// The memory recvmmsg and sendmmsg work on: `count` slots, each a buffer of `capacity` bytes
/// with its iovec, its address (the sender after a receive, the destination of a send) and its
/// `struct mmsghdr`. Everything is allocated once in `init`. Owns that memory and makes the two
/// calls; what goes into the buffers is the owner's business.
public struct DatagramSlab: ~Copyable {
    /// Slots: the most datagrams one call moves.
    public let count: Int
    /// Bytes per slot: the largest datagram a slot holds.
    public let capacity: Int
    private let buffers: UnsafeMutableRawPointer
    private let vectors: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_storage>
    private let headers: UnsafeMutableRawPointer
    private let headerStride: Int

    /// `count` is at most UIO_MAXIOV (1024), the kernel's limit for one call.
    public init(count: Int, capacity: Int) {
        precondition(count > 0 && count <= Int(UIO_MAXIOV) && capacity > 0)
        self.count = count
        self.capacity = capacity
        buffers = .allocate(byteCount: count * capacity, alignment: 16)
        vectors = .allocate(capacity: count)
        addresses = .allocate(capacity: count)
        headerStride = cshims_mmsghdr_size()
        headers = .allocate(byteCount: count * headerStride, alignment: 16)
        for slot in 0..<count {
            vectors[slot] = iovec(iov_base: buffers + slot * capacity, iov_len: 0)
            addresses[slot] = sockaddr_storage()
            cshims_mmsghdr_set(messages, UInt32(slot), vectors + slot, addresses + slot, 0)
        }
    }

    deinit {
        headers.deallocate()
        addresses.deallocate()
        vectors.deallocate()
        buffers.deallocate()
    }

    private var messages: OpaquePointer { OpaquePointer(headers) }

    // ---- receiving ---------------------------------------------------------------------------

    /// One recvmmsg into slots `0..<slots`: returns how many datagrams arrived, or
    /// `.wouldBlock` when none was waiting. Read each with `received`, `address`, `isTruncated`.
    public func receive(from fd: FileDescriptor, slots: Int) throws(SystemError) -> IOResult<Int> {
        precondition(slots > 0 && slots <= count)
        for slot in 0..<slots {
            vectors[slot].iov_len = capacity
            cshims_mmsghdr_set(messages, UInt32(slot), vectors + slot, addresses + slot,
                               UInt32(MemoryLayout<sockaddr_storage>.size))
        }
        return try nonBlocking("recvmmsg") { Int(cshims_recvmmsg(fd.rawValue, messages, UInt32(slots), 0)) }
    }

    /// The bytes received into `slot`; valid until the slab's next receive.
    public func received(_ slot: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: vectors[slot].iov_base, count: Int(cshims_mmsghdr_len(messages, UInt32(slot))))
    }

    /// The datagram in `slot` was longer than `capacity` and cut short (MSG_TRUNC).
    public func isTruncated(_ slot: Int) -> Bool {
        cshims_mmsghdr_flags(messages, UInt32(slot)) & Int32(MSG_TRUNC) != 0
    }

    /// The address of `slot`: who sent its datagram after a receive, where it goes after
    /// `prepare`.
    public func address(_ slot: Int) -> SocketAddress {
        SocketAddress(storage: addresses[slot], length: cshims_mmsghdr_namelen(messages, UInt32(slot)))
    }

    // ---- sending -----------------------------------------------------------------------------

    /// Empties `slot` and addresses it to `destination`; fill it through `buffer` and `setLength`.
    public func prepare(_ slot: Int, to destination: SocketAddress) {
        destination.withSockaddr { address, length in
            UnsafeMutableRawPointer(addresses + slot).copyMemory(from: address, byteCount: Int(length))
            vectors[slot].iov_len = 0
            cshims_mmsghdr_set(messages, UInt32(slot), vectors + slot, addresses + slot, length)
        }
    }

    /// The whole buffer of `slot`, `capacity` bytes.
    public func buffer(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: vectors[slot].iov_base, count: capacity)
    }

    /// How many bytes of `slot`'s buffer a send transmits.
    public func length(_ slot: Int) -> Int { vectors[slot].iov_len }

    public func setLength(_ length: Int, of slot: Int) {
        precondition(length <= capacity)
        vectors[slot].iov_len = length
    }

    /// One sendmmsg of `slots`, each a datagram to its own destination: returns how many the
    /// kernel took, counted from the first, or `.wouldBlock` when its send buffer is full. An
    /// error concerns the first datagram not taken (sendmmsg reports an error only when it
    /// sent nothing).
    public func send(on fd: FileDescriptor, slots: Range<Int>) throws(SystemError) -> IOResult<Int> {
        precondition(!slots.isEmpty && slots.upperBound <= count)
        let first = OpaquePointer(headers + slots.lowerBound * headerStride)
        return try nonBlocking("sendmmsg") { Int(cshims_sendmmsg(fd.rawValue, first, UInt32(slots.count), 0)) }
    }

    /// Bytes the last send transmitted from `slot`.
    public func sent(_ slot: Int) -> Int { Int(cshims_mmsghdr_len(messages, UInt32(slot))) }
}
