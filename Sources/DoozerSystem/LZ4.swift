import CLZ4

/// LZ4 block compression over the system liblz4: one block in, one block out, no framing.
/// The pointer forms write into caller-owned buffers (for streams that reuse them); the array
/// forms allocate exactly their output.
public enum LZ4 {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The largest input one block may hold (liblz4's `LZ4_MAX_INPUT_SIZE`).
    public static let maxInputCount = Int(LZ4_MAX_INPUT_SIZE)

    /// The most bytes compressing `count` input bytes can produce, or nil above `maxInputCount`.
    public static func compressBound(_ count: Int) -> Int? {
        guard count >= 0, count <= maxInputCount else { return nil }
        return Int(LZ4_compressBound(Int32(count)))
    }

    /// Compresses `input` into one LZ4 block at the start of `output`, which must hold at least
    /// `compressBound(input.count)` bytes; returns the block's length.
    public static func compress(_ input: UnsafeRawBufferPointer,
                                into output: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard let bound = compressBound(input.count) else { throw Failure(description: "lz4: input too large") }
        guard output.count >= bound, let dst = output.baseAddress else {
            throw Failure(description: "lz4: output smaller than the compress bound")
        }
        let written = LZ4_compress_default(
            input.baseAddress?.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
            Int32(input.count), Int32(bound))
        guard written > 0 || input.isEmpty else { throw Failure(description: "lz4: compression failed") }
        return Int(written)
    }

    /// Decompresses one LZ4 block that must expand to exactly `output.count` bytes, filling
    /// `output`. Corrupt or truncated input is an error, never a read or write out of bounds.
    public static func decompress(_ input: UnsafeRawBufferPointer,
                                  into output: UnsafeMutableRawBufferPointer) throws(Failure) {
        guard input.count <= Int(Int32.max), output.count <= Int(Int32.max) else {
            throw Failure(description: "lz4: block too large")
        }
        let read = LZ4_decompress_safe(
            input.baseAddress?.assumingMemoryBound(to: CChar.self),
            output.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(output.count))
        guard read == Int32(output.count) else { throw Failure(description: "lz4: corrupt or truncated block") }
    }

    /// Compresses `input` into one LZ4 block.
    public static func compress(_ input: [UInt8]) throws(Failure) -> [UInt8] {
        guard let bound = compressBound(input.count) else { throw Failure(description: "lz4: input too large") }
        var written = Result<Int, Failure>.success(0)
        let output = [UInt8](unsafeUninitializedCapacity: bound) { dst, count in
            written = input.withUnsafeBytes { src in
                Result { () throws(Failure) in try compress(src, into: UnsafeMutableRawBufferPointer(dst)) }
            }
            count = (try? written.get()) ?? 0
        }
        _ = try written.get()
        return output
    }

    /// Decompresses one LZ4 block that must expand to exactly `originalCount` bytes.
    public static func decompress(_ input: [UInt8], originalCount: Int) throws(Failure) -> [UInt8] {
        guard originalCount >= 0 else { throw Failure(description: "lz4: negative length") }
        var output = [UInt8](repeating: 0, count: originalCount)
        let done = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in Result { () throws(Failure) in try decompress(src, into: dst) } }
        }
        try done.get()
        return output
    }
}
