import CCairnSHA256
import COpenSSL
import CairnComposefs
import Foundation
import Testing

/// fs-verity digests against the vectors of reference/composefs.md §1.7 (SHA-256 checked against
/// C composefs-info measure-file).
@Suite struct FsVerityTests {
    static let vectors: [(name: String, bytes: [UInt8], sha256: String, sha512: String)] = [
        ("empty", [], "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95",
         "ccf9e5aea1c2a64efa2f2354a6024b90dffde6bbc017825045dce374474e13d10adb9dadcc6ca8e17a3c075fbd31336e8f266ae6fa93a6c3bed66f9e784e5abf"),
        ("hello world", Array("hello world".utf8), "1e2eaa4202d750a41174ee454970b92c1bc2f925b1e35076d8c7d5f56362ba64",
         "18430270729d162d4e469daca123ae61893db4b0583d8f7081e3bf4f92b88ba514e7982f10733fb6aa895195c5ae8fd2eb2c47a8be05513ce5a0c51a6f570409"),
        ("4096 zeros", [UInt8](repeating: 0, count: 4096), "babc284ee4ffe7f449377fbf6692715b43aec7bc39c094a95878904d34bac97e",
         "928922686c4caf32175f5236a7f964e9925d10a74dc6d8344a8bd08b23c228ff5792573987d7895f628f39c4f4ebe39a7367d7aeb16aaa0cd324ac1d53664e61"),
        ("4097 zeros", [UInt8](repeating: 0, count: 4097), "093756e4ea9683329106d4a16982682ed182c14bf076463a9e7f97305cbac743",
         "4339f5da3788e60fa6857bd7040fadccd6f125b2c2334777eb14ed55179ad887d9131e9ce78485afc23051392b71e015528abbb7be07ed7073c56480b15cedf1"),
        ("1 MiB of i % 251", (0..<1_048_576).map { UInt8($0 % 251) }, "93c995656d665b81c3a87eed032fcf06a8f9cecef51e3f5e5af7fa59fef1d439",
         "41af04461110f14941d920ec99e22353f53c2368e05d2855b3a991c5d3efa27008353a81a3c09cfa37e0c967525ec7481991133cf4249c4df70545c91cead118"),
    ]

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: 0..<5) func vector(_ number: Int) {
        let vector = Self.vectors[number]
        #expect(Self.hex(FsVerity.digest(of: vector.bytes, algorithm: .sha256)) == vector.sha256, "\(vector.name)")
        #expect(Self.hex(FsVerity.digest(of: vector.bytes, algorithm: .sha512)) == vector.sha512, "\(vector.name)")
    }

    /// Fed in odd pieces, the streaming hasher gives the one-shot digest.
    @Test func streamingInPieces() {
        let bytes = Self.vectors[4].bytes
        var hasher = FsVerityHasher(.sha256)
        var offset = 0
        var step = 1
        while offset < bytes.count {
            let end = min(offset + step, bytes.count)
            bytes[offset..<end].withUnsafeBytes { hasher.update($0) }
            offset = end
            step = step * 3 % 10_007 + 1
        }
        #expect(Self.hex(hasher.finalize()) == Self.vectors[4].sha256)
    }

    /// A file hashed in parallel segments (three tree levels for SHA-512: more than 64 × 64
    /// blocks) gives the streaming digest; so do files of one block and one byte more than a segment.
    @Test(arguments: [17 << 20 + 5, 4096, 4 << 20 + 1, 8 << 20])
    func fileInParallel(size: Int) throws {
        var generator = SplitMix(seed: UInt64(size))
        let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) }
        let path = NSTemporaryDirectory() + "fsverity-\(size)-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for algorithm in FsVerityAlgorithm.allCases {
            let parallel = try FsVerity.digest(ofFile: path, algorithm: algorithm, jobs: 2)
            let serial = try FsVerity.digest(ofFile: path, algorithm: algorithm, jobs: 1)
            #expect(parallel == serial, "\(algorithm) \(size)")
            #expect(parallel == FsVerity.digest(of: bytes, algorithm: algorithm), "\(algorithm) \(size)")
        }
    }

    /// The two-at-a-time SHA-NI page hasher against OpenSSL, for odd and even page counts; on a
    /// CPU whose `/proc/cpuinfo` lists `sha_ni` it must be in use.
    @Test func pageHasherMatchesOpenSSL() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        #expect((cairn_sha256_pages_available() != 0) == cpuinfo.contains(" sha_ni"))
        guard cairn_sha256_pages_available() != 0 else { return }
        var generator = SplitMix(seed: 7)
        let pages = 9
        let bytes = (0..<pages * 4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for count in 1...pages {
            var fast = [UInt8](repeating: 0, count: 32 * count)
            cairn_sha256_pages(bytes, count, &fast)
            for page in 0..<count {
                var expected = [UInt8](repeating: 0, count: 32)
                bytes[(page * 4096)..<((page + 1) * 4096)].withUnsafeBytes { _ = SHA256($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 4096, &expected) }
                #expect(Array(fast[(page * 32)..<((page + 1) * 32)]) == expected, "page \(page) of \(count)")
            }
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
