import CairnCasync

/// composefs-rs's splitstream (reference/composefs.md §2): a stream (a tar layer, a JSON blob)
/// stored as inline bytes and references to whole objects, plus references to other streams by
/// name. Layout: 32-byte header, 80-byte info, the stream and object reference arrays (raw
/// digests), then two zstd sections (the chunks, and `"<index>:<name>\0"` records).
public struct SplitStream: Equatable, Sendable {
    public enum Chunk: Equatable, Sendable {
        case inline([UInt8])
        /// The whole content of `objectRefs[index]`.
        case external(index: Int)
    }

    public static let magic = Array("SplitStream".utf8)

    public var algorithm: FsVerityAlgorithm
    /// Eight ASCII bytes as a little-endian integer, e.g. `ocilayer`.
    public var contentType: UInt64
    /// Digests of the streams this one names (in `namedRefs`).
    public var streamRefs: [[UInt8]] = []
    /// Digests of the objects the chunks use, in order of first use.
    public internal(set) var objectRefs: [[UInt8]] = []
    /// Where each digest is in `objectRefs` (a layer names thousands of objects).
    private var objectIndex = [[UInt8]: Int]()
    /// Names of referenced streams, sorted, each with its index in `streamRefs`.
    public var namedRefs: [(name: [UInt8], index: Int)] = []
    public var chunks: [Chunk] = []
    /// The size of the reassembled stream (inline and external bytes).
    public var streamSize: UInt64 = 0

    public init(algorithm: FsVerityAlgorithm, contentType: UInt64) {
        (self.algorithm, self.contentType) = (algorithm, contentType)
    }

    public static func contentType(_ name: String) -> UInt64 {
        Array(name.utf8.prefix(8)).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// The 8 ASCII bytes a content type is made of (`ocilayer`), for messages.
    public static func contentTypeName(_ type: UInt64) -> String {
        String(decoding: withUnsafeBytes(of: type.littleEndian) { Array($0) }.map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    public static func == (a: SplitStream, b: SplitStream) -> Bool {
        a.algorithm == b.algorithm && a.contentType == b.contentType && a.streamRefs == b.streamRefs && a.objectRefs == b.objectRefs
            && a.namedRefs.map(\.name) == b.namedRefs.map(\.name) && a.namedRefs.map(\.index) == b.namedRefs.map(\.index)
            && a.chunks == b.chunks && a.streamSize == b.streamSize
    }

    // MARK: Building

    /// Appends inline bytes (merged with inline bytes just before them).
    public mutating func append(inline bytes: some Collection<UInt8>) {
        Self.append(inline: bytes, to: &chunks)
        streamSize += UInt64(bytes.count)
    }

    /// Appends inline bytes to `chunks`, merged with inline bytes just before them.
    public static func append(inline bytes: some Collection<UInt8>, to chunks: inout [Chunk]) {
        guard !bytes.isEmpty else { return }
        if case .inline(var previous)? = chunks.last {
            // Taken out first, so the append happens in place, not on a copy.
            chunks.removeLast()
            previous.append(contentsOf: bytes)
            chunks.append(.inline(previous))
        } else {
            chunks.append(.inline(Array(bytes)))
        }
    }

    /// Appends the whole content (`size` bytes) of the object with this digest.
    public mutating func append(object digest: [UInt8], size: UInt64) {
        if objectIndex.count != objectRefs.count {
            objectIndex = Dictionary(objectRefs.enumerated().map { ($1, $0) }) { first, _ in first }
        }
        let index = objectIndex[digest] ?? {
            objectRefs.append(digest)
            objectIndex[digest] = objectRefs.count - 1
            return objectRefs.count - 1
        }()
        chunks.append(.external(index: index))
        streamSize += size
    }

    /// Names another stream (or an image) by its digest.
    public mutating func addNamedRef(_ name: [UInt8], digest: [UInt8]) {
        let index = streamRefs.firstIndex(of: digest) ?? {
            streamRefs.append(digest)
            return streamRefs.count - 1
        }()
        namedRefs.removeAll { $0.name == name }
        namedRefs.append((name, index))
        namedRefs.sort { $0.name.lexicographicallyPrecedes($1.name) }
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var stream = [UInt8]()
        for chunk in chunks {
            switch chunk {
            case .inline(let bytes):
                stream += Self.le(UInt64(bitPattern: -Int64(bytes.count)))
                stream += bytes
            case .external(let index):
                stream += Self.le(UInt64(index))
            }
        }
        var named = [UInt8]()
        for (name, index) in namedRefs { named += Array("\(index):".utf8) + name + [0] }
        let compressor = ChunkCompressor()
        let streamSection = stream.withUnsafeBytes { compressor.compress($0) }
        let namedSection = named.withUnsafeBytes { compressor.compress($0) }

        let streamRefsStart: UInt64 = 112
        let objectRefsStart = streamRefsStart + UInt64(streamRefs.count * algorithm.digestSize)
        let streamStart = objectRefsStart + UInt64(objectRefs.count * algorithm.digestSize)
        let namedStart = streamStart + UInt64(streamSection.count)
        var out = Self.magic + [0] + [0, 0] + [algorithm.rawValue, 12] + Self.le(32) + Self.le(112)
        out += Self.le(streamRefsStart) + Self.le(objectRefsStart)
        out += Self.le(objectRefsStart) + Self.le(streamStart)
        out += Self.le(streamStart) + Self.le(namedStart)
        out += Self.le(namedStart) + Self.le(namedStart + UInt64(namedSection.count))
        out += Self.le(contentType) + Self.le(streamSize)
        for digest in streamRefs + objectRefs { out += digest }
        return out + streamSection + namedSection
    }

    static func le(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
}
