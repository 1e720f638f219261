internal import CZstd
internal import CZlib
internal import CLzma

/// How chunks are written to a store. casync's default is zstd (level 3); `none` writes the
/// chunk's bytes as they are, under a file name without the `.cacnk` suffix.
public enum ChunkCompression: String, Sendable, CaseIterable {
    case zstd
    case none
}

/// Why a chunk's stored bytes could not be turned back into the chunk.
public struct ChunkDecodingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Compresses chunks into zstd frames that casync reads. Holds a reusable context, so it may move
/// between tasks but must be used by one at a time.
public final class ChunkCompressor: @unchecked Sendable {
    public static let level: Int32 = 3
    private let context: OpaquePointer

    public init() {
        context = ZSTD_createCCtx()
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Self.level)
    }

    deinit { ZSTD_freeCCtx(context) }

    public func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        return [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            let written = ZSTD_compress2(context, out.baseAddress, bound, input.baseAddress, input.count)
            // With a ZSTD_compressBound-sized output and a valid level, compression cannot fail.
            precondition(ZSTD_isError(written) == 0, "zstd: \(String(cString: ZSTD_getErrorName(written)))")
            count = written
        }
    }
}

/// Decompresses stored chunks whatever casync's compressor was, recognised by magic bytes as
/// casync's `detect_compression` does: zstd, xz or gzip. One per worker.
public final class ChunkDecompressor {
    /// casync refuses chunks that decompress to 128 MiB or more.
    static let maximumSize = ChunkSizes.limit
    private let zstdContext: OpaquePointer

    public init() { zstdContext = ZSTD_createDCtx() }
    deinit { ZSTD_freeDCtx(zstdContext) }

    /// - Parameter expectedSize: the chunk's size from the index, used to size the output exactly.
    /// - Throws: `ChunkDecodingError` when the bytes are not a valid stream of the expected size.
    public func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int? = nil) throws -> [UInt8] {
        let magic = Array(input.prefix(6))
        let output: [UInt8]
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) {
            output = try decompressZstd(input, expectedSize: expectedSize)
        } else if magic.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            output = try decompressXz(input, expectedSize: expectedSize)
        } else if magic.starts(with: [0x1f, 0x8b]) {
            output = try decompressGzip(input, expectedSize: expectedSize)
        } else {
            throw ChunkDecodingError("compressed data starts with neither a zstd, xz nor gzip header")
        }
        guard !output.isEmpty else { throw ChunkDecodingError("decompresses to nothing") }
        return output
    }

    private func decompressZstd(_ input: UnsafeRawBufferPointer, expectedSize: Int?) throws -> [UInt8] {
        ZSTD_DCtx_reset(zstdContext, ZSTD_reset_session_only)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var frameDone = false
        let output = try Self.grow(expectedSize: expectedSize) { (out: UnsafeMutableRawBufferPointer, produced: inout Int) throws -> Bool in
            var outBuffer = ZSTD_outBuffer(dst: out.baseAddress! + produced, size: out.count - produced, pos: 0)
            let result = ZSTD_decompressStream(zstdContext, &outBuffer, &inBuffer)
            produced += outBuffer.pos
            if ZSTD_isError(result) != 0 { throw ChunkDecodingError("zstd: \(String(cString: ZSTD_getErrorName(result)))") }
            if result == 0 { frameDone = true; return true }
            if inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size { throw ChunkDecodingError("zstd frame is truncated") }
            return false
        }
        guard frameDone, inBuffer.pos == inBuffer.size else { throw ChunkDecodingError("trailing bytes after the zstd frame") }
        return output
    }

    private func decompressXz(_ input: UnsafeRawBufferPointer, expectedSize: Int?) throws -> [UInt8] {
        var stream = lzma_stream()
        guard lzma_stream_decoder(&stream, UInt64.max, 0) == LZMA_OK else { throw ChunkDecodingError("xz: cannot start the decoder") }
        defer { lzma_end(&stream) }
        stream.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.avail_in = input.count
        let output = try Self.grow(expectedSize: expectedSize) { (out: UnsafeMutableRawBufferPointer, produced: inout Int) throws -> Bool in
            stream.next_out = (out.baseAddress! + produced).assumingMemoryBound(to: UInt8.self)
            stream.avail_out = out.count - produced
            let result = lzma_code(&stream, LZMA_FINISH)
            produced = out.count - stream.avail_out
            switch result {
            case LZMA_STREAM_END: return true
            case LZMA_OK: return false
            case LZMA_BUF_ERROR: throw ChunkDecodingError("xz stream is truncated")
            default: throw ChunkDecodingError("xz stream is corrupt (lzma error \(result.rawValue))")
            }
        }
        guard stream.avail_in == 0 else { throw ChunkDecodingError("trailing bytes after the xz stream") }
        return output
    }

    private func decompressGzip(_ input: UnsafeRawBufferPointer, expectedSize: Int?) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ChunkDecodingError("gzip: cannot start the decoder")
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        let output = try Self.grow(expectedSize: expectedSize) { (out: UnsafeMutableRawBufferPointer, produced: inout Int) throws -> Bool in
            stream.next_out = (out.baseAddress! + produced).assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(out.count - produced)
            let result = inflate(&stream, Z_FINISH)
            produced = out.count - Int(stream.avail_out)
            switch result {
            case Z_STREAM_END: return true
            case Z_OK: return false
            case Z_BUF_ERROR where stream.avail_out > 0: throw ChunkDecodingError("gzip stream is truncated")
            case Z_BUF_ERROR: return false
            default: throw ChunkDecodingError("gzip stream is corrupt (zlib error \(result))")
            }
        }
        guard stream.avail_in == 0 else { throw ChunkDecodingError("trailing bytes after the gzip stream") }
        return output
    }

    /// Runs `step` with ever larger output space until it reports the end of the stream. With an
    /// expected size the space is fixed: one spare byte lets a chunk that is too long show itself
    /// before it costs more memory.
    private static func grow(
        expectedSize: Int?,
        _ step: (UnsafeMutableRawBufferPointer, inout Int) throws -> Bool
    ) throws -> [UInt8] {
        var capacity = (expectedSize ?? 256 << 10) + 1
        var output = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        while try output.withUnsafeMutableBytes({ try step($0, &produced) }) == false {
            guard produced == capacity else { continue }
            if let expectedSize { throw ChunkDecodingError("decompresses to more than the expected \(expectedSize) bytes") }
            guard capacity < maximumSize else { throw ChunkDecodingError("decompresses to more than \(maximumSize) bytes") }
            capacity = Swift.min(capacity * 2, maximumSize)
            output += [UInt8](repeating: 0, count: capacity - output.count)
        }
        output.removeLast(output.count - produced)
        return output
    }
}
