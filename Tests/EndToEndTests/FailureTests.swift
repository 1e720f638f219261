import Foundation
import Testing

/// Bad input gets a clear error naming the object, a non-zero exit, and nothing half-written.
@Suite struct FailureTests {
    /// A store and index of 2 MB of data, and the list of chunk files.
    static func madeStore(_ scratch: Scratch) throws -> [String] {
        let input = try scratch.write("input", randomBytes(2_000_000, seed: 11))
        #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("x.caibx"), input).succeeded)
        return scratch.chunkFiles("store")
    }

    static func chunkID(_ path: String) -> String {
        String(URL(fileURLWithPath: path).lastPathComponent.prefix(64))
    }

    /// Replaces a read-only chunk file's content.
    static func overwrite(_ path: String, with bytes: [UInt8]) throws {
        try FileManager.default.removeItem(atPath: path)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func expectNoOutput(_ scratch: Scratch) {
        #expect(!scratch.exists("out"))
        #expect(!scratch.listing().contains { $0.hasPrefix(".#out") }, "temporary output left behind")
    }

    @Test func corruptChunkIsNamedAndNoOutputAppears() throws {
        let scratch = try Scratch()
        let chunks = try Self.madeStore(scratch)
        let victim = scratch.file(chunks[3])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0xff
        try Self.overwrite(victim, with: bytes)
        let result = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(!result.succeeded)
        #expect(result.stderr.contains(Self.chunkID(victim)) && result.stderr.contains("corrupt"), "\(result.stderr)")
        Self.expectNoOutput(scratch)
        let digest = try cairn("digest", "--store", scratch.file("store"), scratch.file("x.caibx"))
        #expect(!digest.succeeded && digest.stderr.contains(Self.chunkID(victim)))
    }

    @Test func swappedChunkIsCorrupt() throws {
        let scratch = try Scratch()
        let chunks = try Self.madeStore(scratch)
        try Self.overwrite(scratch.file(chunks[0]), with: [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.file(chunks[1])))))
        let result = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(!result.succeeded && result.stderr.contains(Self.chunkID(chunks[0])) && result.stderr.contains("is corrupt"), "\(result.stderr)")
        Self.expectNoOutput(scratch)
    }

    @Test func truncatedChunkIsNamed() throws {
        let scratch = try Scratch()
        let chunks = try Self.madeStore(scratch)
        let victim = scratch.file(chunks[5])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: victim)))
        try Self.overwrite(victim, with: Array(bytes.prefix(bytes.count / 2)))
        let result = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(!result.succeeded && result.stderr.contains(Self.chunkID(victim)) && result.stderr.contains("truncated"), "\(result.stderr)")
        Self.expectNoOutput(scratch)
    }

    @Test func missingChunksAreListed() throws {
        let scratch = try Scratch()
        let chunks = try Self.madeStore(scratch)
        for victim in chunks.prefix(2) { try FileManager.default.removeItem(atPath: scratch.file(victim)) }
        let result = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(!result.succeeded)
        #expect(result.stderr.contains("2 chunks are missing"), "\(result.stderr)")
        for victim in chunks.prefix(2) { #expect(result.stderr.contains(Self.chunkID(victim))) }
        Self.expectNoOutput(scratch)
        let info = try cairn("info", "--store", scratch.file("store"), scratch.file("x.caibx"))
        #expect(info.stdout.contains("missing:       2 of"))
    }

    @Test func verifyReportsAndRepairsBadChunks() throws {
        let scratch = try Scratch()
        let chunks = try Self.madeStore(scratch)
        try Self.overwrite(scratch.file(chunks[2]), with: [0x28, 0xb5, 0x2f, 0xfd, 0, 0])
        try FileManager.default.removeItem(atPath: scratch.file(chunks[4]))
        let report = try cairn("verify", "--store", scratch.file("store"), scratch.file("x.caibx"))
        #expect(report.status == 1)
        #expect(report.stdout.contains("bad chunk \(Self.chunkID(chunks[2]))"))
        #expect(report.stdout.contains("missing chunk \(Self.chunkID(chunks[4]))"))
        let repaired = try cairn("verify", "--repair", "--store", scratch.file("store"))
        #expect(repaired.status == 1 && repaired.stdout.contains("1 removed"))
        #expect(!scratch.exists(chunks[2]))
        #expect(try cairn("verify", "--store", scratch.file("store")).succeeded)
    }

    static func damage(_ kind: String, _ bytes: inout [UInt8]) {
        switch kind {
        case "trailing garbage": bytes.append(0)
        case "truncated": bytes.removeLast(7)
        case "bad magic": bytes[8] ^= 1
        case "unknown flag": bytes[21] = 1
        case "chunk sizes out of order": bytes[26] = 0x7f
        case "offsets not increasing": bytes.replaceSubrange((64 + 40)..<(64 + 48), with: [UInt8](repeating: 0, count: 8))
        case "tail size": bytes[bytes.count - 16] ^= 1
        default: bytes = []
        }
    }

    @Test(arguments: ["trailing garbage", "truncated", "bad magic", "unknown flag", "chunk sizes out of order",
                      "offsets not increasing", "tail size", "empty file"])
    func malformedIndexIsRefusedByEveryCommand(damage: String) throws {
        let scratch = try Scratch()
        _ = try Self.madeStore(scratch)
        var bytes = try scratch.read("x.caibx")
        Self.damage(damage, &bytes)
        try scratch.write("bad.caibx", bytes)
        for arguments in [
            ["extract", "--store", scratch.file("store"), scratch.file("bad.caibx"), scratch.file("out")],
            ["digest", "--store", scratch.file("store"), scratch.file("bad.caibx")],
            ["info", scratch.file("bad.caibx")],
            ["list-chunks", scratch.file("bad.caibx")],
            ["verify", "--store", scratch.file("store"), scratch.file("bad.caibx")],
            ["gc", "--store", scratch.file("store"), scratch.file("bad.caibx")],
        ] {
            let result = try run(cairnPath, arguments)
            #expect(result.status == 1, "\(damage): \(arguments[0])")
            #expect(result.stderr.contains("bad.caibx is not a valid casync index"), "\(damage): \(arguments[0]): \(result.stderr)")
        }
        Self.expectNoOutput(scratch)
        #expect(scratch.chunkFiles("store").count > 0)
    }

    @Test func casyncAgreesTheDamagedIndexesAreBad() throws {
        let scratch = try Scratch()
        _ = try Self.madeStore(scratch)
        var bytes = try scratch.read("x.caibx")
        bytes.append(0)
        try scratch.write("bad.caibx", bytes)
        #expect(try !casync("digest", "--store=\(scratch.file("store"))", scratch.file("bad.caibx")).succeeded)
    }

    @Test func killDuringMakeLeavesAValidStoreAndARerunFinishes() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", imageLikeBytes(48_000_000, seed: 12))
        var killedMidway = false
        for delay in [0.3, 0.6, 1.0, 1.5] where !killedMidway {
            try? FileManager.default.removeItem(atPath: scratch.file("store"))
            let make = try Started(cairnPath, ["make", "--store", scratch.file("store"), scratch.file("x.caibx"), input])
            Thread.sleep(forTimeInterval: delay)
            make.kill()
            _ = try make.wait()
            killedMidway = make.process.terminationReason == .uncaughtSignal && !scratch.chunkFiles("store").isEmpty
        }
        #expect(killedMidway, "make finished before it could be killed")
        #expect(!scratch.exists("x.caibx"), "an index appeared although make was killed")
        let verify = try cairn("verify", "--store", scratch.file("store"))
        #expect(verify.succeeded, "\(verify.stdout)\(verify.stderr)")
        let rerun = try cairn("make", "--store", scratch.file("store"), scratch.file("x.caibx"), input)
        #expect(rerun.succeeded)
        #expect(try cairn("verify", "--store", scratch.file("store"), scratch.file("x.caibx")).succeeded)
        #expect(try casync("make", "--store=\(scratch.file("theirs"))", scratch.file("theirs.caibx"), input).stdout == rerun.stdout)
        #expect(try scratch.read("x.caibx") == scratch.read("theirs.caibx"))
        // Temporary files of the killed run are removed by gc once they are older than the grace period.
        #expect(try cairn("gc", "--grace", "0", "--store", scratch.file("store"), scratch.file("x.caibx")).succeeded)
        #expect(!scratch.listing("store").contains { $0.hasSuffix(".tmp") })
    }

    @Test func aStoreThatCannotBeWrittenFailsMakeCleanly() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(30_000_000, seed: 13))
        try scratch.write("not-a-directory", [1])
        let result = try cairn("make", "--store", scratch.file("not-a-directory"), scratch.file("x.caibx"), input)
        #expect(result.status == 1)
        #expect(result.stderr.contains("not-a-directory") && result.stderr.contains("Not a directory"), "\(result.stderr)")
        #expect(!scratch.exists("x.caibx") && !scratch.listing().contains { $0.hasPrefix(".#") })
    }

    @Test func badArgumentsAreRefused() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(1000, seed: 1))
        for arguments in [
            ["make", "--chunk-size", "16:32:40", scratch.file("x.caibx"), input],
            ["make", "--chunk-size", "200M", scratch.file("x.caibx"), input],
            ["make", "--digest", "md5", scratch.file("x.caibx"), input],
            ["make", scratch.file("x.caibx"), scratch.file("no-such-file")],
            ["make", scratch.file("x.caibx"), scratch.path],
            ["gc", "--store", scratch.file("store"), "--grace", "soon", scratch.file("x.caibx")],
        ] {
            let result = try run(cairnPath, arguments)
            #expect(!result.succeeded && !result.stderr.isEmpty, "\(arguments)")
        }
        #expect(!scratch.exists("x.caibx"))
        #expect(try cairn("make", scratch.file("x.caibx"), scratch.file("no-such-file")).stderr.contains("no-such-file"))
    }
}
