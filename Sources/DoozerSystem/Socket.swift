import CShims
#if canImport(Glibc)
import Glibc
#endif

/// Socket calls over `FileDescriptor`. Every socket it makes is non-blocking and close-on-exec.
public enum Socket {
    /// A listening TCP socket bound to `address` (SO_REUSEADDR set).
    public static func listenTCP(_ address: SocketAddress, backlog: Int32 = 1024) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(rawValue: try retryingInterrupts("socket") {
            cshims_socket(address.family, Int32(SOCK_STREAM.rawValue))
        })
        do {
            _ = try retryingInterrupts("setsockopt(SO_REUSEADDR)") { cshims_setsockopt_int(fd.rawValue, SOL_SOCKET, SO_REUSEADDR, 1) }
            _ = try retryingInterrupts("bind") { address.withSockaddr { Glibc.bind(fd.rawValue, $0, $1) } }
            _ = try retryingInterrupts("listen") { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// A UDP socket bound to `address` (port 0: the kernel picks one; `localAddress` tells it).
    /// `receiveBuffer` and `sendBuffer` are asked for as SO_RCVBUF and SO_SNDBUF, best effort:
    /// the kernel doubles them and caps them at net.core.rmem_max/wmem_max, and a refusal is
    /// not an error.
    public static func bindUDP(_ address: SocketAddress, receiveBuffer: Int, sendBuffer: Int) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(rawValue: try retryingInterrupts("socket") {
            cshims_socket(address.family, Int32(SOCK_DGRAM.rawValue))
        })
        _ = cshims_setsockopt_int(fd.rawValue, SOL_SOCKET, SO_RCVBUF, Int32(clamping: receiveBuffer))
        _ = cshims_setsockopt_int(fd.rawValue, SOL_SOCKET, SO_SNDBUF, Int32(clamping: sendBuffer))
        do {
            _ = try retryingInterrupts("bind") { address.withSockaddr { Glibc.bind(fd.rawValue, $0, $1) } }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// The receive buffer the kernel granted a socket (SO_RCVBUF: bytes of queued datagrams
    /// and their overhead it holds before dropping).
    public static func receiveBufferSize(_ fd: FileDescriptor) throws(SystemError) -> Int {
        var value: Int32 = 0
        _ = try retryingInterrupts("getsockopt") { cshims_getsockopt_int(fd.rawValue, SOL_SOCKET, SO_RCVBUF, &value) }
        return Int(value)
    }

    /// Accepts one pending connection (non-blocking, close-on-exec) with TCP_NODELAY set.
    public static func accept(_ listener: FileDescriptor) throws(SystemError) -> IOResult<FileDescriptor> {
        switch try nonBlocking("accept4", { cshims_accept4(listener.rawValue) }) {
        case .wouldBlock: return .wouldBlock
        case .done(let raw):
            _ = cshims_setsockopt_int(raw, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return .done(FileDescriptor(rawValue: raw))
        }
    }

    /// The address of a connected socket's peer, as the kernel reports it.
    public static func peerAddress(_ fd: FileDescriptor) throws(SystemError) -> SocketAddress {
        try address(of: fd, "getpeername", getpeername)
    }

    /// The address a socket is bound to, as the kernel reports it.
    public static func localAddress(_ fd: FileDescriptor) throws(SystemError) -> SocketAddress {
        try address(of: fd, "getsockname", getsockname)
    }

    /// One of the kernel's address queries of a socket (`getsockname`, `getpeername`).
    private static func address(
        of fd: FileDescriptor, _ call: String,
        _ query: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try retryingInterrupts(call) {
            withUnsafeMutableBytes(of: &storage) { raw in
                query(fd.rawValue, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        return SocketAddress(storage: storage, length: length)
    }
}
