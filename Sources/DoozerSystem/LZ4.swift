import CLZ4

/// LZ4 block compression over the system liblz4. Pure functions over byte arrays.
public enum LZ4 {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Compresses `input` into one LZ4 block.
    public static func compress(_ input: [UInt8]) throws(Failure) -> [UInt8] {
        guard input.count <= Int(LZ4_MAX_INPUT_SIZE) else { throw Failure(description: "lz4: input too large") }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                LZ4_compress_default(
                    src.baseAddress?.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(bound))
            }
        }
        guard written > 0 || input.isEmpty else { throw Failure(description: "lz4: compression failed") }
        output.removeLast(bound - Int(written))
        return output
    }

    /// Decompresses one LZ4 block that must expand to exactly `originalCount` bytes.
    public static func decompress(_ input: [UInt8], originalCount: Int) throws(Failure) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: originalCount)
        let read = input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                LZ4_decompress_safe(
                    src.baseAddress?.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(originalCount))
            }
        }
        guard read == Int32(originalCount) else { throw Failure(description: "lz4: corrupt or truncated block") }
        return output
    }
}
