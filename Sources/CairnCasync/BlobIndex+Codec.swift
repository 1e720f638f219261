/// Why an index could not be read: the field at fault and what is wrong with it.
public struct IndexFormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension BlobIndex {
    /// Decodes and validates an index with the rules of casync's reader (casync.md §2.4).
    public init(decoding bytes: [UInt8]) throws(IndexFormatError) {
        let total = bytes.count
        guard total >= IndexFormat.itemsOffset + IndexFormat.itemSize else {
            throw IndexFormatError("file is \(total) bytes, shorter than the smallest index (104 bytes)")
        }
        let parsed = bytes.withUnsafeBytes { raw -> Result<BlobIndex, IndexFormatError> in
            func word(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
            do throws(IndexFormatError) {
                guard word(0) == UInt64(IndexFormat.headerSize) else { throw IndexFormatError("header size is \(word(0)), not 48") }
                guard word(8) == IndexFormat.indexType else { throw IndexFormatError("header type 0x\(String(word(8), radix: 16)) is not a casync index") }
                let flags = FeatureFlags(rawValue: word(16))
                if let problem = flags.problem { throw IndexFormatError(problem) }
                let (min, avg, max) = (word(24), word(32), word(40))
                let limit = UInt64(ChunkSizes.limit)
                guard (1...limit).contains(min), (1...limit).contains(avg), (1...limit).contains(max), min <= avg, avg <= max else {
                    throw IndexFormatError("chunk sizes \(min):\(avg):\(max) are out of range or out of order")
                }
                guard word(48) == UInt64.max, word(56) == IndexFormat.tableType else {
                    throw IndexFormatError("table header is missing or damaged")
                }
                let itemBytes = total - IndexFormat.itemsOffset - IndexFormat.itemSize
                guard itemBytes % IndexFormat.itemSize == 0 else {
                    throw IndexFormatError("size \(total) is not 104 + 40·n bytes: truncated, or trailing garbage")
                }
                let count = itemBytes / IndexFormat.itemSize
                let tail = total - IndexFormat.itemSize
                guard word(tail) == 0, word(tail + 8) == 0, word(tail + 16) == UInt64(IndexFormat.headerSize),
                    word(tail + 24) == UInt64(IndexFormat.emptyTableSize + IndexFormat.itemSize * count),
                    word(tail + 32) == IndexFormat.tailMarker
                else {
                    throw IndexFormatError("table tail is missing or damaged: truncated, or trailing garbage")
                }
                var chunks = [Chunk]()
                chunks.reserveCapacity(count)
                var previous: UInt64 = 0
                for i in 0..<count {
                    let at = IndexFormat.itemsOffset + i * IndexFormat.itemSize
                    let end = word(at)
                    guard end > previous else {
                        throw IndexFormatError("chunk \(i) ends at \(end), not after the previous chunk's end \(previous)")
                    }
                    guard end - previous <= max else {
                        throw IndexFormatError("chunk \(i) is \(end - previous) bytes, more than the maximum \(max)")
                    }
                    chunks.append(Chunk(id: ChunkID(raw: raw, offset: at + 8), start: previous, end: end))
                    previous = end
                }
                let sizes = ChunkSizes(uncheckedMin: Int(min), avg: Int(avg), max: Int(max))
                return .success(BlobIndex(flags: flags, sizes: sizes, chunks: chunks))
            } catch {
                return .failure(error)
            }
        }
        self = try parsed.get()
    }

    /// The index's bytes, identical to what casync writes.
    public func encoded() -> [UInt8] {
        var out = BlobIndex.header(flags: flags, sizes: sizes)
        out.reserveCapacity(IndexFormat.itemsOffset + IndexFormat.itemSize * (chunks.count + 1))
        for chunk in chunks { BlobIndex.appendItem(end: chunk.end, id: chunk.id, to: &out) }
        out += BlobIndex.tail(count: chunks.count)
        return out
    }

    /// The 64 bytes before the first item: index header and table header.
    public static func header(flags: FeatureFlags, sizes: ChunkSizes) -> [UInt8] {
        var out = [UInt8]()
        for word in [UInt64(IndexFormat.headerSize), IndexFormat.indexType, flags.rawValue,
                     UInt64(sizes.min), UInt64(sizes.avg), UInt64(sizes.max), UInt64.max, IndexFormat.tableType] {
            appendWord(word, to: &out)
        }
        return out
    }

    /// One 40-byte item: the chunk's end offset and its ID.
    public static func appendItem(end: UInt64, id: ChunkID, to out: inout [UInt8]) {
        appendWord(end, to: &out)
        out += id.bytes
    }

    /// The 40-byte table tail for an index of `count` chunks.
    public static func tail(count: Int) -> [UInt8] {
        var out = [UInt8]()
        for word in [0, 0, UInt64(IndexFormat.headerSize), UInt64(IndexFormat.emptyTableSize + IndexFormat.itemSize * count), IndexFormat.tailMarker] {
            appendWord(word, to: &out)
        }
        return out
    }

    private static func appendWord(_ word: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: word.littleEndian) { out += $0 }
    }
}
