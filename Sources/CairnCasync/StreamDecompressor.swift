internal import CZlib
internal import CZstd

/// Decompresses a gzip or zstd stream fed in pieces (a tar archive, an OCI layer), handing the
/// output on in pieces, so memory stays bounded whatever the stream's size.
public final class StreamDecompressor {
    public enum Format: Sendable {
        case gzip, zstd

        /// The format `bytes` start with, or nil for neither.
        public static func detect(_ bytes: some Collection<UInt8>) -> Format? {
            let head = Array(bytes.prefix(4))
            if head.starts(with: [0x1F, 0x8B]) { return .gzip }
            if head == [0x28, 0xB5, 0x2F, 0xFD] { return .zstd }
            return nil
        }
    }

    public let format: Format
    private var zlib = z_stream()
    private var zstd: OpaquePointer?
    private var output = [UInt8](repeating: 0, count: 1 << 20)
    public private(set) var finished = false

    public init(_ format: Format) throws {
        self.format = format
        switch format {
        case .gzip:
            // 15 + 32: a zlib or gzip header, detected.
            guard inflateInit2_(&zlib, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ChunkDecodingError("gzip: cannot start the decoder")
            }
        case .zstd:
            zstd = ZSTD_createDStream()
            guard zstd != nil, ZSTD_isError(ZSTD_initDStream(zstd)) == 0 else { throw ChunkDecodingError("zstd: cannot start the decoder") }
        }
    }

    deinit {
        switch format {
        case .gzip: inflateEnd(&zlib)
        case .zstd: ZSTD_freeDStream(zstd)
        }
    }

    /// Decompresses `input`, calling `consume` with each piece of output. Concatenated gzip
    /// members and zstd frames are read as one stream.
    public func feed(_ input: UnsafeRawBufferPointer, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch format {
        case .gzip: try feedGzip(input, consume)
        case .zstd: try feedZstd(input, consume)
        }
    }

    /// Throws unless the stream ended where the input did.
    public func finish() throws {
        guard finished else { throw ChunkDecodingError("\(format) stream is truncated") }
    }

    private func feedGzip(_ input: UnsafeRawBufferPointer, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        zlib.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        zlib.avail_in = UInt32(input.count)
        var outputFull = false
        // Go on while input is left, or while the last call filled the output (more may be pending).
        while zlib.avail_in > 0 || outputFull {
            if finished {
                guard zlib.avail_in > 0 else { break }
                // Zeros after the last member are padding (gzip(1) ignores them too).
                if UnsafeBufferPointer(start: zlib.next_in, count: Int(zlib.avail_in)).allSatisfy({ $0 == 0 }) {
                    zlib.avail_in = 0
                    break
                }
                // Another gzip member follows.
                guard inflateReset(&zlib) == Z_OK else { throw ChunkDecodingError("gzip: cannot restart the decoder") }
                finished = false
            }
            let (result, produced) = try output.withUnsafeMutableBytes { out -> (Int32, Int) in
                zlib.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                zlib.avail_out = UInt32(out.count)
                let result = inflate(&zlib, Z_NO_FLUSH)
                let produced = out.count - Int(zlib.avail_out)
                if produced > 0 { try consume(UnsafeRawBufferPointer(rebasing: out[..<produced])) }
                return (result, produced)
            }
            outputFull = produced == output.count
            switch result {
            case Z_STREAM_END: finished = true
            case Z_OK: break
            case Z_BUF_ERROR: outputFull = false
            default: throw ChunkDecodingError("gzip stream is corrupt (zlib error \(result))")
            }
        }
    }

    private func feedZstd(_ input: UnsafeRawBufferPointer, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        var source = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        var outputFull = false
        // Go on while input is left, or while the last call filled the output (more may be buffered).
        while source.pos < source.size || outputFull {
            let (result, produced) = try output.withUnsafeMutableBytes { out -> (Int, Int) in
                var target = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let result = ZSTD_decompressStream(zstd, &target, &source)
                if target.pos > 0 { try consume(UnsafeRawBufferPointer(rebasing: out[..<target.pos])) }
                return (result, target.pos)
            }
            guard ZSTD_isError(result) == 0 else {
                throw ChunkDecodingError("zstd stream is corrupt (\(String(cString: ZSTD_getErrorName(result))))")
            }
            finished = result == 0
            outputFull = produced == output.count
        }
    }
}
