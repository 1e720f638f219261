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
    private var zstdInput = ZSTD_inBuffer()
    private var output = [UInt8](repeating: 0, count: 1 << 20)
    /// The last `drain` filled its buffer: the decoder may hold more output.
    private var outputFull = false
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
        provide(input)
        try output.withUnsafeMutableBytes { out in
            while case let produced = try drain(into: out), produced > 0 {
                try consume(UnsafeRawBufferPointer(rebasing: out[..<produced]))
            }
        }
    }

    /// Throws unless the stream ended where the input did.
    public func finish() throws {
        guard finished else { throw ChunkDecodingError("\(format) stream is truncated") }
    }

    /// Sets the input that `drain` decompresses. The caller keeps `input` valid and unchanged
    /// until `drain` returns 0.
    public func provide(_ input: UnsafeRawBufferPointer) {
        let base = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) }
        switch format {
        case .gzip: (zlib.next_in, zlib.avail_in) = (base, UInt32(input.count))
        case .zstd: zstdInput = ZSTD_inBuffer(src: base, size: input.count, pos: 0)
        }
    }

    /// Decompresses into `out` (at most its size) from the input `provide` gave: the output
    /// stays bounded by the caller whatever the compression ratio. Returns the bytes produced;
    /// 0 when the input is used up (or the stream has ended).
    public func drain(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        switch format {
        case .gzip: try drainGzip(into: out)
        case .zstd: try drainZstd(into: out)
        }
    }

    private func drainGzip(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            if finished {
                guard zlib.avail_in > 0 else { return 0 }
                // Zeros after the last member are padding (gzip(1) ignores them too).
                if UnsafeBufferPointer(start: zlib.next_in, count: Int(zlib.avail_in)).allSatisfy({ $0 == 0 }) {
                    zlib.avail_in = 0
                    return 0
                }
                // Another gzip member follows.
                guard inflateReset(&zlib) == Z_OK else { throw ChunkDecodingError("gzip: cannot restart the decoder") }
                finished = false
            }
            // With no input left, only output held back by a full buffer last time can come.
            guard zlib.avail_in > 0 || outputFull else { return 0 }
            zlib.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            zlib.avail_out = UInt32(out.count)
            let result = inflate(&zlib, Z_NO_FLUSH)
            let produced = out.count - Int(zlib.avail_out)
            outputFull = produced == out.count
            switch result {
            case Z_STREAM_END: finished = true
            case Z_OK: break
            case Z_BUF_ERROR: outputFull = false
            default: throw ChunkDecodingError("gzip stream is corrupt (zlib error \(result))")
            }
            if produced > 0 { return produced }
            if result == Z_BUF_ERROR { return 0 }
        }
    }

    private func drainZstd(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        while zstdInput.pos < zstdInput.size || outputFull {
            var target = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            let result = ZSTD_decompressStream(zstd, &target, &zstdInput)
            guard ZSTD_isError(result) == 0 else {
                throw ChunkDecodingError("zstd stream is corrupt (\(String(cString: ZSTD_getErrorName(result))))")
            }
            finished = result == 0
            outputFull = target.pos == out.count
            if target.pos > 0 { return target.pos }
        }
        return 0
    }
}
