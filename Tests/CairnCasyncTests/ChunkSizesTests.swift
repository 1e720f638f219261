import CairnCasync
import Testing

@Suite struct ChunkSizesTests {
    @Test(arguments: [
        ("1000", 250, 1000, 4000),
        ("1M", 262144, 1_048_576, 4_194_304),
        ("64M", 16_777_216, 67_108_864, 134_217_728),
        ("16K:64K:256K", 16384, 65536, 262144),
        ("1:1:1", 1, 1, 1),
        ("32:48:48", 32, 48, 48),
        ("20:64:100000", 20, 64, 100000),
    ])
    func parsesLikeCasync(text: String, min: Int, avg: Int, max: Int) throws {
        let sizes = try ChunkSizes(parsing: text)
        #expect(sizes.min == min && sizes.avg == avg && sizes.max == max)
    }

    @Test(arguments: ["200M", "16:32:40", "1:1:2", "64:16:256", "16:64:32", "16:64", "0", "0:1:2", "abc", "1:2:3:4", "16:64:200M"])
    func rejectsWhatCasyncRejects(text: String) {
        #expect(throws: ChunkSizeError.self) { try ChunkSizes(parsing: text) }
    }
}
