import Crypto
import CryptoExtras

/// The digest that names chunks and blobs. casync's default is SHA-512/256; SHA-256 is the alternative.
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha512_256 = "sha512-256"
    case sha256 = "sha256"

    /// Hashes one buffer, e.g. a chunk, into a chunk ID.
    public func hash(_ bytes: UnsafeRawBufferPointer) -> ChunkID {
        var hasher = makeHasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    public func hash(_ bytes: [UInt8]) -> ChunkID {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// A streaming hasher, for digests of whole blobs.
    public func makeHasher() -> StreamingHasher { StreamingHasher(self) }
}

/// Incremental digest of a byte stream.
public struct StreamingHasher {
    private enum State {
        case sha512_256(SHA512256)
        case sha256(SHA256)
    }
    private var state: State

    public init(_ algorithm: DigestAlgorithm) {
        switch algorithm {
        case .sha512_256: state = .sha512_256(SHA512256())
        case .sha256: state = .sha256(SHA256())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha512_256(var h):
            h.update(bufferPointer: bytes)
            state = .sha512_256(h)
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        }
    }

    public func finalize() -> ChunkID {
        switch state {
        case .sha512_256(let h): h.finalize().withUnsafeBytes { ChunkID(raw: $0, offset: 0) }
        case .sha256(let h): h.finalize().withUnsafeBytes { ChunkID(raw: $0, offset: 0) }
        }
    }
}
