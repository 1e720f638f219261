import CairnCasync
import Testing

@Suite struct ChunkerTests {
    @Test func tableMatchesCasync() {
        let bytes = BuzhashTableProbe.littleEndianBytes
        let digest = DigestAlgorithm.sha256.hash(bytes).hex
        #expect(digest == "5b52080d38287da9d2e278466e3e0db7ec98e5e8b226f50612a56fa012b1f660")
    }

    @Test(arguments: [
        ([UInt8](repeating: 0, count: 48), UInt32(0x9e48_9e48)),
        ((0..<48).map(UInt8.init), UInt32(0x6b67_dec6)),
        ([UInt8](repeating: 0xff, count: 48), UInt32(0xfdc4_023b)),
    ])
    func windowHashVectors(window: [UInt8], expected: UInt32) {
        #expect(Chunker.windowHash(window) == expected)
    }

    @Test func lcgWindowHash() {
        let data = lcgBytes(count: 16384)
        #expect(Array(data.prefix(16)) == hexBytes("141a9a66628f145b7b72a25d0c18e932"))
        #expect(Chunker.windowHash(Array(data[(16384 - 48)...])) == 0xed33_0a03)
    }

    @Test(arguments: [
        (1024, 768), (4096, 3075), (16384, 12318), (65536, 49535), (262144, 202440),
        (1_048_576, 886711), (2_097_152, 2_030_716), (4_194_304, 5_721_670),
    ])
    func discriminatorMatchesCasync(avg: Int, raw: Int) throws {
        // With min = avg/4 and max = 4·avg, the raw value lies inside [min, max] and is not clamped.
        #expect(try ChunkSizes(average: avg).discriminator == UInt32(raw))
    }

    @Test func discriminatorIsClampedToMinAndMax() throws {
        #expect(try ChunkSizes(min: 65536, avg: 65536, max: 262144).discriminator == 65536)
        // avg 8 MiB: the raw value 62724856 exceeds max = 32 MiB.
        #expect(try ChunkSizes(average: 8 << 20).discriminator == UInt32(32 << 20))
    }

    @Test func lcgChunksMatchCasync() {
        let data = lcgBytes(count: 4_194_304)
        let lengths = chunkLengths(data, sizes: .default)
        #expect(lengths.count == 69)
        var ends = [Int]()
        for length in lengths { ends.append((ends.last ?? 0) + length) }
        #expect(Array(ends.prefix(5)) == [44349, 115383, 131805, 190304, 211350])
        #expect(ends.suffix(2) == [4_152_847, 4_194_304])
        let first = data[0..<44349].withUnsafeBytes { DigestAlgorithm.sha512_256.hash($0) }
        #expect(first.hex == "7867827ec758f53d613f81d46e639b97a69e6c3381542f96de92cd9a64dfce2b")
    }

    @Test func feedingInPiecesGivesTheSameCuts() {
        // The make engine feeds blocks and asks again with more bytes; cuts must not change.
        let data = lcgBytes(count: 1 << 20)
        let chunker = Chunker(sizes: .default)
        var lengths = [Int]()
        data.withUnsafeBytes { raw in
            var start = 0, available = 0
            while start < raw.count {
                available = min(available + 5000, raw.count)
                let atEnd = available == raw.count
                while start < available, let length = chunker.boundary(in: UnsafeRawBufferPointer(rebasing: raw[start..<available]), atEnd: atEnd) {
                    lengths.append(length)
                    start += length
                }
            }
        }
        #expect(lengths == chunkLengths(data, sizes: .default))
    }

    @Test func fixedSizeChunking() throws {
        let sizes = try ChunkSizes(parsing: "4096:4096:4096")
        #expect(chunkLengths([UInt8](repeating: 7, count: 10000), sizes: sizes) == [4096, 4096, 1808])
    }

    @Test func zerosAreCutAtMax() {
        #expect(chunkLengths([UInt8](repeating: 0, count: 600_000), sizes: .default) == [262144, 262144, 75712])
    }

    @Test func emptyInputHasNoChunks() {
        #expect(chunkLengths([], sizes: .default).isEmpty)
    }
}

/// The buzhash table as 1024 little-endian bytes, read through the chunker's public hash.
enum BuzhashTableProbe {
    /// H of a window with byte b last and 47 zero bytes before it is T[b] XOR H(47 zeros, rotated);
    /// so T[b] = H(w_b) XOR H(w_0) XOR T[0], and T[0] is known from casync.md §1.9.
    static var littleEndianBytes: [UInt8] {
        let zeros = Chunker.windowHash([UInt8](repeating: 0, count: 48))
        var bytes = [UInt8]()
        for b in 0...255 {
            var window = [UInt8](repeating: 0, count: 48)
            window[47] = UInt8(b)
            let value = Chunker.windowHash(window) ^ zeros ^ 0x458b_e752
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }
        return bytes
    }
}
