// The CLI's only I/O besides the client library: unbuffered writes of bytes to stdout and stderr
// (bodies are raw bytes; a watch record must reach a pipe as soon as it is printed) and reading
// stdin to its end.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum Terminal {
    static func out(_ bytes: [UInt8]) { write(1, bytes) }
    static func out(_ text: String) { write(1, Array(text.utf8)) }
    static func err(_ text: String) { write(2, Array(text.utf8)) }

    /// Writes everything (retrying short writes and EINTR). A closed stdout (EPIPE, e.g.
    /// `doozer watch | head`) ends the program quietly, like the original's SIGPIPE death.
    private static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                exit(2)
            }
        }
    }

    private static func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, pointer, count)
        #elseif canImport(Musl)
        return Musl.write(fd, pointer, count)
        #else
        return Darwin.write(fd, pointer, count)
        #endif
    }

    /// All of stdin, as bytes.
    static func readStdin() -> Result<[UInt8], LocalError> {
        var body: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
            if n > 0 {
                body += chunk[0..<n]
            } else if n == 0 {
                return .success(body)
            } else if errno != EINTR {
                return .failure(LocalError("read /dev/stdin: \(String(cString: strerror(errno)))"))
            }
        }
    }
}
