import CairnCasync
import Testing

@Suite struct BlobIndexTests {
    /// casync.md §2.2: `casync make` of an empty file.
    static let emptyIndexHex =
        "3000000000000000f99f127b9c4d8296" + "00000000000000b0" + "0040000000000000" + "0000010000000000"
        + "0000040000000000" + "ffffffffffffffff7d41172f119e5be7" + String(repeating: "0", count: 32)
        + "3000000000000000" + "3800000000000000" + "d1ec49550e054f4b"

    @Test func emptyIndexIsByteIdenticalToCasync() {
        let index = BlobIndex(flags: .blobDefault(digest: .sha512_256), sizes: .default, chunks: [])
        #expect(Hex.encode(index.encoded()) == Self.emptyIndexHex)
        #expect(index.encoded().count == 104)
    }

    @Test func lcgIndexMatchesCasync() {
        let data = lcgBytes(count: 4_194_304)
        var chunks = [BlobIndex.Chunk]()
        var start = 0
        for length in chunkLengths(data, sizes: .default) {
            let id = data[start..<(start + length)].withUnsafeBytes { DigestAlgorithm.sha512_256.hash($0) }
            chunks.append(.init(id: id, start: UInt64(start), end: UInt64(start + length)))
            start += length
        }
        let bytes = BlobIndex(flags: .blobDefault(digest: .sha512_256), sizes: .default, chunks: chunks).encoded()
        #expect(bytes.count == 2864)
        #expect(DigestAlgorithm.sha256.hash(bytes).hex == "5ed70d0dca902eadbace09189c6ef88e2e5f068904240d6bfc385e4e3fa524c8")
        #expect(data.withUnsafeBytes { DigestAlgorithm.sha512_256.hash($0) }.hex == "235f602894a1d476b887f3c335b17abc6559021b584800c8a694464ffee787fd")
        let decoded = try? BlobIndex(decoding: bytes)
        #expect(decoded?.chunks == chunks)
        #expect(decoded?.digest == .sha512_256)
    }

    @Test func flagsFollowTheDigest() {
        #expect(FeatureFlags.blobDefault(digest: .sha512_256).rawValue == 0xb000_0000_0000_0000)
        #expect(FeatureFlags.blobDefault(digest: .sha256).rawValue == 0x9000_0000_0000_0000)
    }

    /// A valid three-chunk index to damage one field at a time.
    static func sample() -> [UInt8] {
        let ids = (0..<3).map { n in ChunkID(bytes: [UInt8](repeating: UInt8(n + 1), count: 32)) }
        let chunks = [(0, 20000), (20000, 50000), (50000, 60000)].enumerated().map { n, range in
            BlobIndex.Chunk(id: ids[n], start: UInt64(range.0), end: UInt64(range.1))
        }
        return BlobIndex(flags: .blobDefault(digest: .sha512_256), sizes: .default, chunks: chunks).encoded()
    }

    static func setWord(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    @Test(arguments: [
        ("header size", 0, UInt64(40)),
        ("header type", 8, UInt64(0x1234)),
        ("unknown flag bit", 16, UInt64(0xb000_0100_0000_0000)),
        ("flags not normalized", 16, UInt64(0xb000_0000_0010_0000)),
        ("min zero", 24, UInt64(0)),
        ("min above avg", 24, UInt64(70000)),
        ("avg above max", 32, UInt64(300_000)),
        ("max above 128 MiB", 40, UInt64(200 << 20)),
        ("table header size", 48, UInt64(12)),
        ("table header type", 56, UInt64(7)),
        ("second offset not increasing", 64 + 40, UInt64(20000)),
        ("offset going back", 64 + 80, UInt64(100)),
        ("chunk above max", 64 + 80, UInt64(50000 + 262145)),
        ("tail zero fill", 64 + 120, UInt64(1)),
        ("tail index offset", 64 + 136, UInt64(64)),
        ("tail size", 64 + 144, UInt64(999)),
        ("tail marker", 64 + 152, UInt64(42)),
    ])
    func rejectsDamagedField(field: String, offset: Int, value: UInt64) {
        var bytes = Self.sample()
        #expect((try? BlobIndex(decoding: bytes)) != nil)
        Self.setWord(&bytes, at: offset, value)
        #expect(throws: IndexFormatError.self, "\(field)") { try BlobIndex(decoding: bytes) }
    }

    @Test func rejectsTrailingGarbageAndTruncation() {
        let bytes = Self.sample()
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: bytes + [0]) }
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: bytes + [UInt8](repeating: 0, count: 40)) }
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: Array(bytes.dropLast())) }
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: Array(bytes.dropLast(40))) }
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: Array(bytes.prefix(50))) }
        #expect(throws: IndexFormatError.self) { try BlobIndex(decoding: []) }
    }

    @Test func readsSHA256Indexes() throws {
        var bytes = Self.sample()
        Self.setWord(&bytes, at: 16, 0x9000_0000_0000_0000)
        #expect(try BlobIndex(decoding: bytes).digest == .sha256)
    }
}

@Suite struct ChunkCompressionTests {
    @Test func zstdRoundTrip() throws {
        let data = lcgBytes(count: 100_000) + [UInt8](repeating: 0, count: 50_000)
        let compressed = data.withUnsafeBytes { ChunkCompressor().compress($0) }
        #expect(Array(compressed.prefix(4)) == [0x28, 0xb5, 0x2f, 0xfd])
        let decompressor = ChunkDecompressor()
        #expect(try compressed.withUnsafeBytes { try decompressor.decompress($0, expectedSize: data.count) } == data)
        #expect(try compressed.withUnsafeBytes { try decompressor.decompress($0) } == data)
    }

    @Test func rejectsDamagedStreams() {
        let data = lcgBytes(count: 70_000)
        let compressed = data.withUnsafeBytes { ChunkCompressor().compress($0) }
        let decompressor = ChunkDecompressor()
        let cases = [("truncated", Array(compressed.dropLast(10))), ("trailing", compressed + [1, 2, 3]), ("magic", [0, 1, 2, 3, 4, 5]), ("empty", [])]
        for (name, damaged) in cases {
            #expect(throws: ChunkDecodingError.self, "\(name)") { try damaged.withUnsafeBytes { try decompressor.decompress($0) } }
        }
        #expect(throws: ChunkDecodingError.self) {
            try compressed.withUnsafeBytes { try decompressor.decompress($0, expectedSize: 1000) }
        }
    }
}
