/// XXH32, as the kernel's `lib/xxhash.c`: EROFS's xattr name filter hashes names with it.
public enum XXHash32 {
    private static let prime1: UInt32 = 2_654_435_761
    private static let prime2: UInt32 = 2_246_822_519
    private static let prime3: UInt32 = 3_266_489_917
    private static let prime4: UInt32 = 668_265_263
    private static let prime5: UInt32 = 374_761_393

    public static func hash(_ bytes: some Collection<UInt8>, seed: UInt32) -> UInt32 {
        let input = Array(bytes)
        var position = 0
        var h: UInt32
        func word(_ at: Int) -> UInt32 {
            UInt32(input[at]) | UInt32(input[at + 1]) << 8 | UInt32(input[at + 2]) << 16 | UInt32(input[at + 3]) << 24
        }
        func round(_ value: UInt32, _ lane: UInt32) -> UInt32 {
            (value &+ lane &* prime2).rotatedLeft(13) &* prime1
        }
        if input.count >= 16 {
            var (v1, v2, v3, v4) = (seed &+ prime1 &+ prime2, seed &+ prime2, seed, seed &- prime1)
            while position + 16 <= input.count {
                v1 = round(v1, word(position))
                v2 = round(v2, word(position + 4))
                v3 = round(v3, word(position + 8))
                v4 = round(v4, word(position + 12))
                position += 16
            }
            h = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
        } else {
            h = seed &+ prime5
        }
        h &+= UInt32(truncatingIfNeeded: input.count)
        while position + 4 <= input.count {
            h = (h &+ word(position) &* prime3).rotatedLeft(17) &* prime4
            position += 4
        }
        while position < input.count {
            h = (h &+ UInt32(input[position]) &* prime5).rotatedLeft(11) &* prime1
            position += 1
        }
        h ^= h >> 15
        h &*= prime2
        h ^= h >> 13
        h &*= prime3
        h ^= h >> 16
        return h
    }
}

extension UInt32 {
    fileprivate func rotatedLeft(_ count: UInt32) -> UInt32 { (self << count) | (self >> (32 - count)) }
}
