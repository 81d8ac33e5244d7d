import CShims
#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor. A plain value: whoever created it closes it exactly once.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Closes the descriptor. EINTR is not retried: on Linux the descriptor is gone either way.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Reads at most `buffer.count` bytes; `.done(0)` is end of file.
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes at most `buffer.count` bytes, returning how many the kernel took.
    @inlinable
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("write") { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes the regions `vectors` names, in order, with one `writev`; at most `IOV_MAX`.
    public func write(vectors: UnsafeBufferPointer<iovec>) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("writev") { cshims_writev(rawValue, vectors.baseAddress, Int32(vectors.count)) }
    }

    /// Writes the whole buffer to a blocking descriptor (stdout, files).
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
            offset += try retryingInterrupts("write") { Glibc.write(rawValue, rest.baseAddress, rest.count) }
        }
    }

    /// Flushes file data (not metadata unless needed) to stable storage.
    public func dataSync() throws(SystemError) {
        _ = try retryingInterrupts("fdatasync") { cshims_fdatasync(rawValue) }
    }
}

/// Owns one descriptor and closes it when released. For descriptors opened by an initialiser
/// that can still fail: the stored properties it set are released, but its deinit never runs.
public final class OwnedDescriptor {
    public let fd: FileDescriptor

    public init(_ fd: FileDescriptor) { self.fd = fd }

    deinit { fd.close() }
}
