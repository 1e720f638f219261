import CairnCasync

/// casync.md §1.8's "LCG-4M" input: byte i is the top byte of a 64-bit LCG state.
func lcgBytes(count: Int) -> [UInt8] {
    var state: UInt64 = 0
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(state >> 56)
    }
}

/// Cuts `bytes` into chunks the way the make engine does, in one buffer.
func chunkLengths(_ bytes: [UInt8], sizes: ChunkSizes) -> [Int] {
    let chunker = Chunker(sizes: sizes)
    var lengths = [Int]()
    bytes.withUnsafeBytes { raw in
        var position = 0
        while position < raw.count,
            let length = chunker.boundary(in: UnsafeRawBufferPointer(rebasing: raw[position...]), atEnd: true)
        {
            lengths.append(length)
            position += length
        }
    }
    return lengths
}

func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}
