import Foundation
import Testing

/// Seeds, in-place updates, holes for zeros, and the reporting commands.
@Suite struct ExtractFeatureTests {
    /// Version 1 and a version 2 with a few changed regions, both made into one store.
    static func twoVersions(_ scratch: Scratch) throws {
        var v1 = imageLikeBytes(3_000_000, seed: 21)
        try scratch.write("v1", v1)
        for offset in stride(from: 100_000, to: 3_000_000, by: 700_000) {
            v1.replaceSubrange(offset..<(offset + 5000), with: randomBytes(5000, seed: UInt64(offset)))
        }
        try scratch.write("v2", v1)
        for version in ["v1", "v2"] {
            #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("\(version).caibx"), scratch.file(version)).succeeded)
        }
    }

    static func summary(_ run: Run) throws -> [String: Int] {
        try JSONDecoder().decode([String: Int].self, from: Data(run.stdout.utf8))
    }

    @Test func seedSuppliesSharedChunksAndAChangedSeedFallsBackToTheStore() throws {
        let scratch = try Scratch()
        try Self.twoVersions(scratch)
        let seeded = try cairn("extract", "--json", "--store", scratch.file("store"), "--seed", scratch.file("v1.caibx"), scratch.file("v2.caibx"), scratch.file("out"))
        #expect(seeded.succeeded, "\(seeded.stderr)")
        #expect(try scratch.read("out") == scratch.read("v2"))
        let figures = try Self.summary(seeded)
        #expect(figures["fromSeed"]! > 0 && figures["fromStore"]! > 0 && figures["invalidSeedChunks"] == 0)

        // The seed's blob no longer matches its index: those chunks come from the store instead.
        var v1 = try scratch.read("v1")
        for i in 0..<v1.count where i % 100_000 == 0 { v1[i] ^= 0x55 }
        try scratch.write("v1", v1)
        try FileManager.default.removeItem(atPath: scratch.file("out"))
        let fallback = try cairn("extract", "--json", "--store", scratch.file("store"), "--seed", "\(scratch.file("v1.caibx")):\(scratch.file("v1"))", scratch.file("v2.caibx"), scratch.file("out"))
        #expect(fallback.succeeded)
        #expect(try scratch.read("out") == scratch.read("v2"))
        #expect(try Self.summary(fallback)["invalidSeedChunks"]! > 0)
    }

    @Test func inPlaceKeepsWhatIsRightAndFixesTheRest() throws {
        let scratch = try Scratch()
        try Self.twoVersions(scratch)
        try scratch.write("target", try scratch.read("v1") + randomBytes(100_000, seed: 9))
        let result = try cairn("extract", "--json", "--in-place", "--store", scratch.file("store"), scratch.file("v2.caibx"), scratch.file("target"))
        #expect(result.succeeded, "\(result.stderr)")
        #expect(try scratch.read("target") == scratch.read("v2"))
        let figures = try Self.summary(result)
        #expect(figures["alreadyInPlace"]! > 0 && figures["fromStore"]! > 0)
        #expect(figures["bytesWritten"]! < 3_000_000 / 2)
    }

    @Test func withoutInPlaceAnExistingFileIsReplacedWhole() throws {
        let scratch = try Scratch()
        try Self.twoVersions(scratch)
        try scratch.write("out", randomBytes(5_000_000, seed: 3))
        #expect(try cairn("extract", "--store", scratch.file("store"), scratch.file("v1.caibx"), scratch.file("out")).succeeded)
        #expect(try scratch.read("out") == scratch.read("v1"))
    }

    @Test func zeroRunsBecomeHoles() throws {
        let scratch = try Scratch()
        let input = randomBytes(200_000, seed: 4) + [UInt8](repeating: 0, count: 8_000_000) + randomBytes(200_000, seed: 5)
        try scratch.write("input", input)
        #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("input")).succeeded)
        let result = try cairn("extract", "--json", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(try scratch.read("out") == input)
        #expect(try Self.summary(result)["zeroChunks"]! >= 28)
        let allocated = try run("stat", ["-c", "%b", scratch.file("out")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(allocated)! * 512 < 2_000_000, "the zero run was written instead of left as a hole")
        // In place over random data, the zeros are written (or punched) back.
        try scratch.write("target", randomBytes(input.count, seed: 6))
        #expect(try cairn("extract", "--in-place", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("target")).succeeded)
        #expect(try scratch.read("target") == input)
    }

    @Test func gcKeepsReferencedAndYoungChunks() throws {
        let scratch = try Scratch()
        try scratch.write("a", randomBytes(1_000_000, seed: 31))
        try scratch.write("b", randomBytes(1_000_000, seed: 32))
        for name in ["a", "b"] {
            #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("\(name).caibx"), scratch.file(name)).succeeded)
        }
        let before = scratch.chunkFiles("store").count
        let young = try cairn("gc", "--store", scratch.file("store"), scratch.file("a.caibx"))
        #expect(young.succeeded && young.stdout.contains("removed 0 chunks"), "\(young.stdout)")
        let dry = try cairn("gc", "--json", "--dry-run", "--grace", "0", "--store", scratch.file("store"), scratch.file("a.caibx"))
        let dryFigures = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as! [String: Any]
        let removable = dryFigures["removed"] as! Int
        #expect(removable > 0 && dryFigures["dryRun"] as? Bool == true && scratch.chunkFiles("store").count == before)
        #expect(try cairn("gc", "--grace", "0", "--store", scratch.file("store"), scratch.file("a.caibx")).succeeded)
        #expect(scratch.chunkFiles("store").count == before - removable)
        #expect(try cairn("verify", "--store", scratch.file("store"), scratch.file("a.caibx")).succeeded)
        #expect(try !cairn("verify", "--store", scratch.file("store"), scratch.file("b.caibx")).succeeded)
        #expect(try casync("extract", "--store=\(scratch.file("store"))", scratch.file("a.caibx"), scratch.file("out")).succeeded)
    }

    @Test func infoListChunksAndChunkAgreeWithTheIndex() throws {
        let scratch = try Scratch()
        try Self.twoVersions(scratch)
        let info = try cairn("info", "--json", "--store", scratch.file("store"), "--against", scratch.file("v1.caibx"), scratch.file("v2.caibx"))
        #expect(info.succeeded)
        let object = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as! [String: Any]
        let listed = try cairn("list-chunks", scratch.file("v2.caibx")).stdout.split(separator: "\n")
        #expect(object["chunks"] as? Int == listed.count)
        #expect(object["blobSize"] as? Int == 3_000_000)
        #expect(object["missingChunks"] as? Int == 0)
        #expect((object["sharedBytes"] as! Int) > 3_000_000 / 2 && (object["sharedBytes"] as! Int) < 3_000_000)
        let chunked = try cairn("chunk", scratch.file("v2")).stdout.split(separator: "\n")
        #expect(chunked.map { $0.split(separator: " ")[2] } == listed)
        #expect(chunked.first?.hasPrefix("0 ") == true)
    }
}
