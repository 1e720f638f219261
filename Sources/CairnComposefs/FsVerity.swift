import CairnIO
internal import CCairnSHA256
internal import COpenSSL
import Dispatch
import SystemPackage

/// The Linux fs-verity file digest, computed in user space: a Merkle tree of 4 KiB blocks (no
/// salt) whose root goes into a 256-byte descriptor, and the digest of that descriptor. composefs
/// names objects and images by it; `FS_IOC_MEASURE_VERITY` returns the same value.
public enum FsVerityAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sha256 = 1
    case sha512 = 2

    public var digestSize: Int { self == .sha256 ? 32 : 64 }
    public var description: String { self == .sha256 ? "sha256" : "sha512" }
}

public enum FsVerity {
    public static let blockSize = 4096

    /// The digest of `bytes`.
    public static func digest(of bytes: UnsafeRawBufferPointer, algorithm: FsVerityAlgorithm) -> [UInt8] {
        var hasher = FsVerityHasher(algorithm)
        let blockHasher = BlockHasher(algorithm)
        for start in stride(from: 0, to: bytes.count, by: 4 << 20) {
            let (hashes, lastBlockBytes) = blockHasher.hashBlocks(UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + (4 << 20), bytes.count)]))
            hasher.appendDataBlockHashes(hashes, lastBlockBytes: lastBlockBytes)
        }
        return hasher.finalize()
    }

    public static func digest(of bytes: [UInt8], algorithm: FsVerityAlgorithm) -> [UInt8] {
        bytes.withUnsafeBytes { digest(of: $0, algorithm: algorithm) }
    }

    /// The digest of a file. A large file's data blocks are hashed on `jobs` threads, a window of
    /// segments at a time (memory stays at `2 × jobs` segments); the tree above them is cheap.
    public static func digest(ofFile path: String, algorithm: FsVerityAlgorithm, jobs: Int = 2) throws -> [UInt8] {
        let file = try File.open(path, .readOnly)
        return try digest(of: file, algorithm: algorithm, jobs: jobs)
    }

    /// The digest of the first `size` bytes of `file`, read in order through `buffer` (a whole
    /// number of blocks) on this thread: for callers that hash many files at once, one per thread.
    public static func digest(of file: File, size: UInt64, algorithm: FsVerityAlgorithm, buffer: UnsafeMutableRawBufferPointer) throws -> [UInt8] {
        precondition(buffer.count > 0 && buffer.count % blockSize == 0, "the buffer must hold whole blocks")
        var hasher = FsVerityHasher(algorithm)
        let blockHasher = BlockHasher(algorithm)
        var offset: UInt64 = 0
        while offset < size {
            let wanted = Int(min(UInt64(buffer.count), size - offset))
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]), at: offset)
            guard got == wanted else { throw FsVerityError.shrank(path: file.path, expected: size, got: offset + UInt64(got)) }
            let (hashes, lastBlockBytes) = blockHasher.hashBlocks(UnsafeRawBufferPointer(rebasing: buffer[..<wanted]))
            hasher.appendDataBlockHashes(hashes, lastBlockBytes: lastBlockBytes)
            offset += UInt64(wanted)
        }
        return hasher.finalize()
    }

    public static func digest(of file: File, algorithm: FsVerityAlgorithm, jobs: Int = 2) throws -> [UInt8] {
        let size = try file.size()
        let segment = 4 << 20
        guard jobs >= 2 else {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: segment, alignment: 4096)
            defer { buffer.deallocate() }
            return try digest(of: file, size: size, algorithm: algorithm, buffer: buffer)
        }
        var hasher = FsVerityHasher(algorithm)
        // Whole segments (multiples of the block size) are hashed apart and their block hashes
        // fed in file order; only the last segment can end in a partial block.
        let segments = Int((size + UInt64(segment) - 1) / UInt64(segment))
        let window = 2 * jobs
        let buffers = SegmentBuffers(count: min(window, max(segments, 1)), size: Int(min(UInt64(segment), max(size, 1))))
        for first in stride(from: 0, to: segments, by: window) {
            let count = min(window, segments - first)
            let results = Results<([UInt8], Int)>(count: count)
            let hashSegment: @Sendable (Int) -> Void = { slot in
                let offset = UInt64(first + slot) * UInt64(segment)
                let wanted = Int(min(UInt64(segment), size - offset))
                let buffer = UnsafeMutableRawBufferPointer(rebasing: buffers.buffers[slot][..<wanted])
                results.store(slot) {
                    let got = try file.read(into: buffer, at: offset)
                    guard got == wanted else { throw FsVerityError.shrank(path: file.path, expected: size, got: offset + UInt64(got)) }
                    return BlockHasher(algorithm).hashBlocks(UnsafeRawBufferPointer(buffer))
                }
            }
            DispatchQueue.concurrentPerform(iterations: count, execute: hashSegment)
            for slot in 0..<count {
                let (hashes, lastBlockBytes) = try results.take(slot).get()
                hasher.appendDataBlockHashes(hashes, lastBlockBytes: lastBlockBytes)
            }
        }
        return hasher.finalize()
    }
}

public struct FsVerityError: Error, CustomStringConvertible {
    public let description: String

    static func shrank(path: String, expected: UInt64, got: UInt64) -> FsVerityError {
        FsVerityError(description: "\(path) changed while its fs-verity digest was computed: \(got) of \(expected) bytes read")
    }
}

/// One read buffer per segment of a window; each is used by one thread at a time.
private final class SegmentBuffers: @unchecked Sendable {
    let buffers: [UnsafeMutableRawBufferPointer]
    init(count: Int, size: Int) {
        buffers = (0..<count).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096) }
    }
    deinit { buffers.forEach { $0.deallocate() } }
}

/// Hashes Merkle tree blocks (and the descriptor) with one algorithm.
struct BlockHasher {
    let algorithm: FsVerityAlgorithm
    private static let hasPageHasher = cairn_sha256_pages_available() != 0

    init(_ algorithm: FsVerityAlgorithm) { self.algorithm = algorithm }

    /// The hash of `bytes` zero-padded to a whole block (`bytes` may be shorter than a block).
    func hashBlock(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        cairn_hash_padded_block(Int32(algorithm.rawValue), bytes.baseAddress, bytes.count, FsVerity.blockSize, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// The digest of `bytes` as they are (the fs-verity descriptor).
    func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.digestSize)
        out.withUnsafeMutableBytes { out in
            cairn_hash_padded_block(Int32(algorithm.rawValue), bytes.baseAddress, bytes.count, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }

    /// Hashes of every block of `bytes` (the last one zero-padded), and the byte count of that last block.
    func hashBlocks(_ bytes: UnsafeRawBufferPointer) -> ([UInt8], Int) {
        let blocks = (bytes.count + FsVerity.blockSize - 1) / FsVerity.blockSize
        var hashes = [UInt8](repeating: 0, count: blocks * algorithm.digestSize)
        hashes.withUnsafeMutableBytes { out in
            var block = 0
            if algorithm == .sha256 && Self.hasPageHasher && bytes.count >= FsVerity.blockSize {
                // Whole blocks two at a time on the SHA extensions; a partial last one below.
                block = bytes.count / FsVerity.blockSize
                cairn_sha256_pages(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), block, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            for block in block..<blocks {
                let start = block * FsVerity.blockSize
                hashBlock(
                    UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + FsVerity.blockSize, bytes.count)]),
                    into: UnsafeMutableRawBufferPointer(rebasing: out[(block * algorithm.digestSize)...]))
            }
        }
        return (hashes, bytes.count - (blocks - 1) * FsVerity.blockSize)
    }
}

/// Streaming fs-verity digest. Each tree level keeps one block of pending hashes; a full block
/// is hashed into the level above only when more arrives, so the level that ends up holding a
/// single block is the root's.
public struct FsVerityHasher {
    public let algorithm: FsVerityAlgorithm
    private let blockHasher: BlockHasher
    private var dataBlock = [UInt8]()
    private var size: UInt64 = 0
    /// Pending hashes per level (level 0 hashes data blocks) and whether each level has already
    /// passed a block up.
    private var levels = [[UInt8]]()
    private var passedUp = [Bool]()

    public init(_ algorithm: FsVerityAlgorithm) {
        self.algorithm = algorithm
        blockHasher = BlockHasher(algorithm)
        dataBlock.reserveCapacity(FsVerity.blockSize)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while !rest.isEmpty {
            if dataBlock.count == FsVerity.blockSize { flushDataBlock() }
            let take = min(FsVerity.blockSize - dataBlock.count, rest.count)
            dataBlock.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            rest = rest.dropFirst(take)
            size += UInt64(take)
        }
    }

    /// Feeds the hashes of whole data blocks hashed elsewhere; only the very last block of the
    /// file may be partial (`lastBlockBytes` of the last hash's block are data).
    mutating func appendDataBlockHashes(_ hashes: [UInt8], lastBlockBytes: Int) {
        precondition(dataBlock.isEmpty || dataBlock.count == FsVerity.blockSize)
        if dataBlock.count == FsVerity.blockSize { flushDataBlock() }
        let count = hashes.count / algorithm.digestSize
        guard count > 0 else { return }
        hashes.withUnsafeBytes { raw in
            for index in 0..<count {
                append(UnsafeRawBufferPointer(rebasing: raw[(index * algorithm.digestSize)..<((index + 1) * algorithm.digestSize)]), level: 0)
            }
        }
        size += UInt64(count - 1) * UInt64(FsVerity.blockSize) + UInt64(lastBlockBytes)
    }

    private mutating func flushDataBlock() {
        var hash = [UInt8](repeating: 0, count: algorithm.digestSize)
        dataBlock.withUnsafeBytes { block in hash.withUnsafeMutableBytes { blockHasher.hashBlock(block, into: $0) } }
        hash.withUnsafeBytes { append($0, level: 0) }
        dataBlock.removeAll(keepingCapacity: true)
    }

    private mutating func append(_ hash: UnsafeRawBufferPointer, level: Int) {
        if levels.count == level {
            levels.append([])
            passedUp.append(false)
        }
        if levels[level].count == FsVerity.blockSize {
            var up = [UInt8](repeating: 0, count: algorithm.digestSize)
            levels[level].withUnsafeBytes { block in up.withUnsafeMutableBytes { blockHasher.hashBlock(block, into: $0) } }
            levels[level].removeAll(keepingCapacity: true)
            passedUp[level] = true
            up.withUnsafeBytes { append($0, level: level + 1) }
        }
        levels[level].append(contentsOf: hash)
    }

    /// The fs-verity digest of everything fed so far.
    public mutating func finalize() -> [UInt8] {
        var root = [UInt8](repeating: 0, count: algorithm.digestSize)
        if size > 0 {
            if !dataBlock.isEmpty { flushDataBlock() }
            var level = 0
            // A file of one block has that block's hash as its root.
            if levels[0].count == algorithm.digestSize && !passedUp[0] {
                root = levels[0]
            } else {
                while true {
                    if !passedUp[level] {
                        levels[level].withUnsafeBytes { block in root.withUnsafeMutableBytes { blockHasher.hashBlock(block, into: $0) } }
                        break
                    }
                    var up = [UInt8](repeating: 0, count: algorithm.digestSize)
                    levels[level].withUnsafeBytes { block in up.withUnsafeMutableBytes { blockHasher.hashBlock(block, into: $0) } }
                    levels[level].removeAll()
                    up.withUnsafeBytes { append($0, level: level + 1) }
                    level += 1
                }
            }
        }
        var descriptor = [UInt8](repeating: 0, count: 256)
        descriptor[0] = 1
        descriptor[1] = algorithm.rawValue
        descriptor[2] = 12
        for byte in 0..<8 { descriptor[8 + byte] = UInt8(truncatingIfNeeded: size >> (8 * byte)) }
        descriptor.replaceSubrange(16..<(16 + root.count), with: root)
        return descriptor.withUnsafeBytes { blockHasher.hash($0) }
    }
}
