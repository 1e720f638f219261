import Foundation
import Testing

/// cairn against real casync 2: identical indexes and digests, and each reads the other's stores.
@Suite struct CasyncCompatibilityTests {
    static let settings: [String?] = [
        nil, "250:1000:4000", "20:64:100000", "48:64:128", "4096:4096:4096", "1000:3000:5000",
        "16384:65536:262144", "65536:65536:262144", "1000", "32:48:48", "100:100:100", "16K:64K:1M",
    ]

    @Test(arguments: settings)
    func indexesAndDigestsMatchCasync(chunkSize: String?) throws {
        let scratch = try Scratch()
        let inputs = [
            try scratch.write("random", randomBytes(300_000, seed: 1)),
            try scratch.write("image", imageLikeBytes(1_500_000, seed: 2)),
        ]
        for (n, input) in inputs.enumerated() {
            for digest in ["sha512-256", "sha256"] {
                var options = ["--digest", digest]
                if let chunkSize { options += ["--chunk-size", chunkSize] }
                let ours = try run(cairnPath, ["make", "--store", scratch.file("ours"), "--progress", "none"] + options + [scratch.file("ours\(n).caibx"), input])
                #expect(ours.succeeded, "\(ours.stderr)")
                let casyncOptions = options.enumerated().map { $0.offset % 2 == 0 ? "\($0.element)=" : $0.element }
                let theirs = try run("casync", ["make", "--store=\(scratch.file("theirs"))"] + stride(from: 0, to: casyncOptions.count, by: 2).map { casyncOptions[$0] + casyncOptions[$0 + 1] } + [scratch.file("theirs\(n).caibx"), input])
                #expect(theirs.succeeded, "\(theirs.stderr)")
                #expect(ours.stdout == theirs.stdout, "blob digest, \(digest) \(chunkSize ?? "default")")
                #expect(try scratch.read("ours\(n).caibx") == scratch.read("theirs\(n).caibx"), "index, input \(n), \(digest) \(chunkSize ?? "default")")
            }
        }
    }

    @Test func emptyInputGivesCasyncsEmptyIndexAndNoStore() throws {
        let scratch = try Scratch()
        try scratch.write("empty", [])
        let ours = try cairn("make", "--store", scratch.file("ours"), scratch.file("ours.caibx"), scratch.file("empty"))
        let theirs = try casync("make", "--store=\(scratch.file("theirs"))", scratch.file("theirs.caibx"), scratch.file("empty"))
        #expect(ours.succeeded && theirs.succeeded)
        #expect(ours.stdout == theirs.stdout)
        #expect(try scratch.read("ours.caibx") == scratch.read("theirs.caibx"))
        #expect(!scratch.exists("ours"))
        #expect(try cairn("extract", "--store", scratch.file("ours"), scratch.file("ours.caibx"), scratch.file("out")).succeeded)
        #expect(try scratch.read("out").isEmpty)
    }

    @Test(arguments: ["zstd", "none"])
    func casyncExtractsFromCairnsStore(compression: String) throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", imageLikeBytes(2_000_000, seed: 3))
        #expect(try cairn("make", "--compression", compression, "--store", scratch.file("store"), scratch.file("x.caibx"), input).succeeded)
        if compression == "none" {
            #expect(scratch.chunkFiles("store").allSatisfy { !$0.hasSuffix(".cacnk") })
        }
        let extracted = try casync("extract", "--store=\(scratch.file("store"))", scratch.file("x.caibx"), scratch.file("out"))
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
        #expect(try casync("digest", "--store=\(scratch.file("store"))", scratch.file("x.caibx")).stdout
            == cairn("digest", input).stdout)
    }

    @Test(arguments: ["zstd", "xz", "gzip"])
    func cairnExtractsFromCasyncsStore(compression: String) throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", imageLikeBytes(2_000_000, seed: 4))
        let made = try casync("make", "--compression=\(compression)", "--store=\(scratch.file("store"))", scratch.file("x.caibx"), input)
        #expect(made.succeeded, "\(made.stderr)")
        let extracted = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
        #expect(try cairn("verify", "--store", scratch.file("store"), scratch.file("x.caibx")).succeeded)
        #expect(try cairn("verify", "--store", scratch.file("store")).succeeded)
    }

    @Test func erofsImageRoundTripsAndMatchesCasync() throws {
        let scratch = try Scratch()
        let tree = scratch.file("tree")
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
        for n in 0..<40 {
            try Data(randomBytes(5000 * (n + 1), seed: UInt64(100 + n))).write(to: URL(fileURLWithPath: "\(tree)/sub/file\(n)"))
            try Data(repeating: UInt8(n), count: 3000).write(to: URL(fileURLWithPath: "\(tree)/same\(n)"))
        }
        let image = scratch.file("image.ero")
        let mkfs = try run("mkfs.erofs", ["-T0", "--all-root", image, tree])
        #expect(mkfs.succeeded, "\(mkfs.stderr)")
        let ours = try cairn("make", "--store", scratch.file("store"), scratch.file("ours.caibx"), image)
        let theirs = try casync("make", "--store=\(scratch.file("theirs"))", scratch.file("theirs.caibx"), image)
        #expect(ours.succeeded && theirs.succeeded && ours.stdout == theirs.stdout)
        #expect(try scratch.read("ours.caibx") == scratch.read("theirs.caibx"))
        #expect(try cairn("extract", "--store", scratch.file("store"), scratch.file("ours.caibx"), scratch.file("out.ero")).succeeded)
        #expect(try scratch.read("out.ero") == scratch.read("image.ero"))
        let fsck = try run("fsck.erofs", [scratch.file("out.ero")])
        #expect(fsck.succeeded, "\(fsck.stderr)")
    }

    @Test(arguments: ["sha512-256", "sha256"])
    func digestsMatchCasync(digest: String) throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(1_000_000, seed: 5))
        #expect(try cairn("digest", "--digest", digest, input).stdout == casync("digest", "--digest=\(digest)", input).stdout)
        #expect(try cairn("make", "--digest", digest, scratch.file("x.caibx"), input).succeeded)
        // casync prints SHA-512/256 of the rebuilt blob whatever the index's digest; so does cairn.
        let ours = try cairn("digest", scratch.file("x.caibx"))
        #expect(ours.succeeded, "\(ours.stderr)")
        #expect(ours.stdout == (try casync("digest", scratch.file("x.caibx"))).stdout)
        #expect(scratch.exists("default.castr"))
    }
}
