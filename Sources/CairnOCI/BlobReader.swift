import CairnCasync
import CairnIO

/// Reads a layer blob front to back: checks its size and OCI digest as the bytes go by,
/// decompresses it (gzip, zstd or none, by media type) and hashes what comes out, which is the
/// layer's diff_id. Nothing it returns may be trusted until `finish` has checked both digests.
final class BlobReader {
    enum Compression { case uncompressed, gzip, zstd }

    let file: File
    /// Where the blob starts in `file` (an archive may hold it among others).
    let base: UInt64
    let name: String
    private let expected: OCIDigest
    private let size: UInt64
    private let decompressor: StreamDecompressor?
    private let blobHasher = DigestAlgorithm.sha256.makeHasher()
    private let contentHasher = DigestAlgorithm.sha256.makeHasher()
    private var fileOffset: UInt64 = 0
    /// Compressed input, and decompressed output before it joins `pending` (1 MiB each: memory
    /// stays bounded whatever the compression ratio).
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    /// Decompressed bytes not handed out yet: `pending[start...]`.
    private var pending = [UInt8]()
    private var start = 0

    var available: Int { pending.count - start }

    /// `name` names the blob in errors (its digest, usually).
    init(file: File, at base: UInt64 = 0, name: String, digest: OCIDigest, size: UInt64, compression: Compression) throws {
        (self.file, self.base, self.name, expected, self.size) = (file, base, name, digest, size)
        decompressor = switch compression {
        case .uncompressed: nil
        case .gzip: try StreamDecompressor(.gzip)
        case .zstd: try StreamDecompressor(.zstd)
        }
    }

    /// The compression a layer media type names; nil for one that is not a tar layer.
    static func compression(ofLayerType type: String) -> Compression? {
        switch type {
        case "application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar": .uncompressed
        case "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": .gzip
        case "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": .zstd
        default: nil
        }
    }

    deinit {
        input.deallocate()
        output.deallocate()
    }

    /// Moves the next piece of content into `pending`; false at the blob's end.
    private func refill() throws -> Bool {
        if start > 0 && start >= pending.count / 2 {
            pending.removeFirst(start)
            start = 0
        }
        while true {
            if let decompressor {
                let produced: Int
                do { produced = try decompressor.drain(into: output) } catch { throw OCIError("blob \(name) does not decompress: \(error)") }
                if produced > 0 {
                    let piece = UnsafeRawBufferPointer(rebasing: output[..<produced])
                    contentHasher.update(piece)
                    pending.append(contentsOf: piece)
                    return true
                }
            }
            guard fileOffset < size else { return false }
            let wanted = Int(min(UInt64(input.count), size - fileOffset))
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: input[..<wanted]), at: base + fileOffset)
            guard got == wanted else { throw OCIError("blob \(name) is \(fileOffset + UInt64(got)) bytes, not the \(size) its descriptor says") }
            fileOffset += UInt64(got)
            let piece = UnsafeRawBufferPointer(rebasing: input[..<got])
            blobHasher.update(piece)
            guard let decompressor else {
                contentHasher.update(piece)
                pending.append(contentsOf: piece)
                return true
            }
            decompressor.provide(piece)
        }
    }

    /// The next `count` decompressed bytes; nil if the content ends exactly here.
    func read(_ count: Int) throws -> [UInt8]? {
        while available < count, try refill() {}
        if available == 0 { return nil }
        guard available >= count else { throw OCIError("layer \(name) ends in the middle of a tar header or padding") }
        defer { start += count }
        return Array(pending[start..<(start + count)])
    }

    /// Hands exactly `count` decompressed bytes to `body`, a piece at a time.
    func stream(_ count: UInt64, to body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var remaining = count
        while remaining > 0 {
            if available == 0, try !refill() { throw OCIError("layer \(name) ends in the middle of a file's data") }
            let take = Int(min(UInt64(available), remaining))
            try pending.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + take)])) }
            start += take
            remaining -= UInt64(take)
        }
    }

    /// Everything left of the decompressed content, which must be at most `limit` bytes.
    func readRest(limit: Int) throws -> [UInt8] {
        while available <= limit, try refill() {}
        guard available <= limit else { throw OCIError("layer \(name) has more than \(limit) bytes after its end-of-archive") }
        defer { start = pending.count }
        return Array(pending[start...])
    }

    /// Checks that the whole blob was read, decompressed completely, and has the digest its
    /// descriptor names; returns the SHA-256 of the decompressed content (the diff_id).
    func finish() throws -> OCIDigest {
        guard try !refill(), available == 0 else { throw OCIError("layer \(name) has data after its end-of-archive") }
        if let decompressor {
            do { try decompressor.finish() } catch { throw OCIError("blob \(name) is cut short: \(error)") }
        }
        let actual = OCIDigest(sha256: blobHasher.finalize())
        guard actual == expected else { throw OCIError("blob \(name) has the digest \(actual), not \(expected)") }
        return OCIDigest(sha256: contentHasher.finalize())
    }
}
