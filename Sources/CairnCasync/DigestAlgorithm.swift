internal import COpenSSL

/// The digest that names chunks and blobs. casync's default is SHA-512/256; SHA-256 is the alternative.
///
/// Hashing is the largest cost of make and extract, so it goes to OpenSSL's libcrypto, whose AVX2
/// SHA-512 runs about 40% faster on this CPU class than the scalar code swift-crypto's BoringSSL
/// selects (745 vs 530 MB/s per core for 64 KiB chunks).
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha512_256 = "sha512-256"
    case sha256 = "sha256"

    var evp: OpaquePointer { self == .sha512_256 ? EVP_sha512_256() : EVP_sha256() }

    /// Hashes one buffer, e.g. a chunk, into a chunk ID.
    public func hash(_ bytes: UnsafeRawBufferPointer) -> ChunkID {
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digest) { out in
            var length: UInt32 = 0
            let ok = EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, evp, nil)
            precondition(ok == 1 && length == 32, "OpenSSL cannot compute \(rawValue)")
        }
        return withUnsafeBytes(of: digest) { ChunkID(raw: $0, offset: 0) }
    }

    public func hash(_ bytes: [UInt8]) -> ChunkID {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// A streaming hasher, for digests of whole blobs.
    public func makeHasher() -> StreamingHasher { StreamingHasher(self) }
}

/// Incremental digest of a byte stream. One owner at a time.
public final class StreamingHasher {
    private let context: OpaquePointer

    init(_ algorithm: DigestAlgorithm) {
        context = EVP_MD_CTX_new()
        precondition(EVP_DigestInit_ex(context, algorithm.evp, nil) == 1, "OpenSSL cannot compute \(algorithm.rawValue)")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    /// The digest of everything passed to `update`; call once.
    public func finalize() -> ChunkID {
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digest) { out in
            var length: UInt32 = 0
            precondition(EVP_DigestFinal_ex(context, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length) == 1 && length == 32)
        }
        return withUnsafeBytes(of: digest) { ChunkID(raw: $0, offset: 0) }
    }
}
