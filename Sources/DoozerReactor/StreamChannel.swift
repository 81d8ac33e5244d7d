import DoozerSystem

/// One non-blocking stream socket with its preallocated input and output buffers. It moves
/// bytes between the kernel and the buffers and tracks the epoll interest it needs; what the
/// bytes mean is the owner's business. Never blocks and never closes its descriptor: the
/// owner unregisters and closes `fd`.
public struct StreamChannel: ~Copyable {
    public let fd: FileDescriptor
    public var input: IOBuffer
    public var output: IOBuffer
    /// The interest currently registered with the loop.
    public var interest: IOEvents = .readable

    public init(fd: FileDescriptor, inputCapacity: Int, outputCapacity: Int) {
        self.fd = fd
        input = IOBuffer(capacity: inputCapacity)
        output = IOBuffer(capacity: outputCapacity)
    }

    public enum ReadOutcome {
        /// `count` bytes arrived; `filled` says they filled the free space, so the kernel may
        /// hold more. After a short read the socket was empty a moment ago; with
        /// level-triggered epoll anything arriving later is reported again, so the next read
        /// can wait for that report instead of costing an EAGAIN.
        case bytes(Int, filled: Bool)
        case wouldBlock
        case endOfStream
        case failed(SystemError)
    }

    /// One read into the input buffer's free space, made at least `minimumSpace` large.
    public mutating func readOnce(minimumSpace: Int) -> ReadOutcome {
        let space = input.writableSpace(minimum: minimumSpace)
        do {
            switch try fd.read(into: space) {
            case .wouldBlock: return .wouldBlock
            case .done(0): return .endOfStream
            case .done(let n):
                input.commit(n)
                return .bytes(n, filled: n == space.count)
            }
        } catch {
            return .failed(error)
        }
    }

    public enum FlushOutcome {
        /// Everything buffered went to the kernel.
        case drained
        /// The kernel's send buffer is full; wait for writability.
        case pending
        case failed(SystemError)
    }

    /// Writes buffered output until it is drained or the kernel pushes back.
    public mutating func flush() -> FlushOutcome {
        while !output.isEmpty {
            do {
                switch try fd.write(output.readable) {
                case .wouldBlock: return .pending
                case .done(let n): output.consume(n)
                }
            } catch {
                return .failed(error)
            }
        }
        return .drained
    }
}
