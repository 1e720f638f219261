import CairnCasync

extension SplitStream {
    /// Reads a splitstream, in the current header layout or the one bootc ≤ 1.15 wrote (fields
    /// reordered by the compiler: info first, magic at byte 18). Every range is checked against
    /// the file; zstd sections may expand to at most `limit` bytes each.
    public init(decoding bytes: [UInt8], limit: Int = 1 << 30) throws(SplitStreamError) {
        guard bytes.count >= 32 else { throw .malformed("\(bytes.count) bytes, too short for a header") }
        let header: (version: UInt8, algorithm: UInt8, blockBits: UInt8, info: Range<UInt64>)
        if Array(bytes[0..<11]) == Self.magic {
            header = (bytes[11], bytes[14], bytes[15], try Self.range(bytes, at: 16))
        } else if Array(bytes[18..<29]) == Self.magic {
            header = (bytes[29], bytes[30], bytes[31], try Self.range(bytes, at: 0))
        } else {
            throw .malformed("no SplitStream magic")
        }
        guard header.version == 0 else { throw .malformed("version \(header.version) (only 0 is known)") }
        guard header.blockBits == 12 else { throw .malformed("fs-verity block size 2^\(header.blockBits) (only 4096 is supported)") }
        guard let algorithm = FsVerityAlgorithm(rawValue: header.algorithm) else { throw .malformed("hash algorithm \(header.algorithm)") }
        guard header.info.count >= 80 else { throw .malformed("an info section of \(header.info.count) bytes (80 needed)") }
        let info = Int(header.info.lowerBound)
        self.init(algorithm: algorithm, contentType: Self.u64(bytes, at: info + 64))
        streamSize = Self.u64(bytes, at: info + 72)
        streamRefs = try Self.digests(bytes, try Self.range(bytes, at: info), size: algorithm.digestSize, what: "stream references")
        objectRefs = try Self.digests(bytes, try Self.range(bytes, at: info + 16), size: algorithm.digestSize, what: "object references")
        let stream = try Self.decompress(bytes, try Self.range(bytes, at: info + 32), limit: limit, what: "stream")
        let named = try Self.decompress(bytes, try Self.range(bytes, at: info + 48), limit: limit, what: "named references")

        var position = 0
        while position < stream.count {
            guard position + 8 <= stream.count else { throw .malformed("the stream ends inside a chunk header") }
            let value = Int64(bitPattern: Self.u64(stream, at: position))
            position += 8
            if value < 0 {
                guard value != Int64.min, Int(-value) <= stream.count - position else { throw .malformed("an inline chunk runs past the stream") }
                chunks.append(.inline(Array(stream[position..<(position + Int(-value))])))
                position += Int(-value)
            } else {
                guard value < Int64(objectRefs.count) else { throw .malformed("a chunk names object \(value) of \(objectRefs.count)") }
                chunks.append(.external(index: Int(value)))
            }
        }
        for record in named.split(separator: 0) {
            guard let colon = record.firstIndex(of: UInt8(ascii: ":")),
                  let index = Int(String(decoding: record[record.startIndex..<colon], as: UTF8.self)), index >= 0, index < streamRefs.count
            else { throw .malformed("a named reference \"\(String(decoding: record, as: UTF8.self))\"") }
            namedRefs.append((Array(record[(colon + 1)...]), index))
        }
    }

    private static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    /// A `FileRange` (start, end) at `offset`, checked against the file.
    private static func range(_ bytes: [UInt8], at offset: Int) throws(SplitStreamError) -> Range<UInt64> {
        guard offset + 16 <= bytes.count else { throw .malformed("a range at byte \(offset) lies past the end") }
        let (start, end) = (u64(bytes, at: offset), u64(bytes, at: offset + 8))
        guard start <= end, end <= UInt64(bytes.count) else { throw .malformed("the range \(start)..<\(end) does not fit the \(bytes.count)-byte file") }
        return start..<end
    }

    private static func digests(_ bytes: [UInt8], _ range: Range<UInt64>, size: Int, what: String) throws(SplitStreamError) -> [[UInt8]] {
        guard range.count % size == 0 else { throw .malformed("\(what) of \(range.count) bytes, not whole \(size)-byte digests") }
        return stride(from: Int(range.lowerBound), to: Int(range.upperBound), by: size).map { Array(bytes[$0..<($0 + size)]) }
    }

    private static func decompress(_ bytes: [UInt8], _ range: Range<UInt64>, limit: Int, what: String) throws(SplitStreamError) -> [UInt8] {
        guard !range.isEmpty else { return [] }
        var output = [UInt8]()
        do {
            let decompressor = try StreamDecompressor(.zstd)
            try bytes[Int(range.lowerBound)..<Int(range.upperBound)].withUnsafeBytes { section in
                try decompressor.feed(section) { piece in
                    guard output.count + piece.count <= limit else { throw SplitStreamError.malformed("the \(what) expands past \(limit) bytes") }
                    output += piece
                }
            }
            try decompressor.finish()
        } catch let error as SplitStreamError {
            throw error
        } catch {
            throw .malformed("the \(what) section: \(error)")
        }
        return output
    }
}

public enum SplitStreamError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let problem): "malformed splitstream: \(problem)"
        }
    }
}
