/// A casync blob index (`.caibx`; `.caidx` uses the same container): chunk sizes, flags and the
/// ordered list of chunks with their end offsets (casync.md §2).
public struct BlobIndex: Sendable, Equatable {
    public struct Chunk: Sendable, Equatable {
        public var id: ChunkID
        /// Offset of the chunk's first byte in the blob.
        public var start: UInt64
        /// Offset just past the chunk's last byte (what the index stores).
        public var end: UInt64
        public var size: Int { Int(end - start) }

        public init(id: ChunkID, start: UInt64, end: UInt64) {
            (self.id, self.start, self.end) = (id, start, end)
        }
    }

    public var flags: FeatureFlags
    public var sizes: ChunkSizes
    public var chunks: [Chunk]

    public init(flags: FeatureFlags, sizes: ChunkSizes, chunks: [Chunk]) {
        (self.flags, self.sizes, self.chunks) = (flags, sizes, chunks)
    }

    /// The digest that names this index's chunks.
    public var digest: DigestAlgorithm { flags.digest }
    /// The length of the blob the index describes.
    public var blobSize: UInt64 { chunks.last?.end ?? 0 }
}

/// The fixed numbers of the index container.
enum IndexFormat {
    static let headerSize = 48
    static let indexType: UInt64 = 0x9682_4d9c_7b12_9ff9
    static let tableType: UInt64 = 0xe75b_9e11_2f17_417d
    static let tailMarker: UInt64 = 0x4b4f_050e_5549_ecd1
    static let itemSize = 40
    /// Header (48) + table header (16).
    static let itemsOffset = 64
    /// Table header (16) + tail (40): the table size with no items.
    static let emptyTableSize = 56
}
