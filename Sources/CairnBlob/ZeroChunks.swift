import CairnCasync
import Synchronization

/// IDs of all-zero chunks by length. Images hold long runs of zeros, which the chunker cuts into
/// max-size chunks; recognising them saves hashing, compressing, fetching and writing them.
final class ZeroChunks: Sendable {
    private let digest: DigestAlgorithm
    private let known = Mutex<[Int: ChunkID]>([:])

    init(digest: DigestAlgorithm) { self.digest = digest }

    /// The ID of `length` zero bytes, hashed once per length. Call it for chunks known to be zero
    /// (any length) or for the few lengths zero runs are cut into (the maximum chunk size).
    func id(length: Int) -> ChunkID {
        if let id = known.withLock({ $0[length] }) { return id }
        let id = digest.hash([UInt8](repeating: 0, count: length))
        known.withLock { $0[length] = id }
        return id
    }

    static func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var words = bytes.count / 8
        var p = bytes.baseAddress!
        while words > 0 {
            if p.loadUnaligned(as: UInt64.self) != 0 { return false }
            p += 8
            words -= 1
        }
        return bytes[(bytes.count / 8 * 8)...].allSatisfy { $0 == 0 }
    }
}
