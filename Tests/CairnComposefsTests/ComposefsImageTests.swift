import CairnComposefs
import CairnErofs
import Foundation
import Testing

/// Images byte-identical to C mkcomposefs: the digests pinned in composefs-rs (and reproduced
/// with C mkcomposefs, reference/composefs.md §4.7) for the same dumpfiles.
@Suite struct ComposefsImageTests {
    static let empty = "/ 0 40755 2 0 0 0 0.0 - - -\n"
    static let simple = """
        / 0 40755 2 0 0 0 0.0 - - -
        /blkdev 0 60000 1 0 0 123 0.0 - - -
        /chrdev 0 20000 1 0 0 123 0.0 - - -
        /fifo 0 10000 1 0 0 0 0.0 - - -
        /regular-external 1234 100000 1 0 0 0 0.0 5a/\(String(repeating: "5a", count: 31)) - \(String(repeating: "5a", count: 32))
        /regular-inline 4 100000 1 0 0 0 0.0 - hihi -
        /socket 0 140000 1 0 0 0 0.0 - - -
        /symlink 7 120000 1 0 0 0 0.0 /target - -

        """

    static func digest(_ dumpfile: String, version: UInt32?) throws -> String {
        var options = ComposefsImage.Options()
        if let version { (options.minimumVersion, options.maximumVersion) = (version, version) }
        let image = try ComposefsImage.write(try Dumpfile.parse(Array(dumpfile.utf8)), options: options)
        return FsVerityTests.hex(FsVerity.digest(of: image, algorithm: .sha256))
    }

    @Test func pinnedDigests() throws {
        #expect(try Self.digest(Self.empty, version: nil) == "8f589e8f57ecb88823736b0d857ddca1e1068a23e264fad164b28f7038eb3682")
        #expect(try Self.digest(Self.empty, version: 1) == "14a26c957c84f6eb774b91205476adc13196c7c33b9dd97d08d43725ecb90b63")
        #expect(try Self.digest(Self.simple, version: nil) == "9f3f5620ee0c54708516467d0d58741e7963047c7106b245d94c298259d0fa01")
        #expect(try Self.digest(Self.simple, version: 1) == "ad6db6427568a1e4fdc772cbab7b6063f5eb4b33cb62982a740ba9213e5962b5")
    }

    /// The dumpfile printed from a parsed tree parses to the same tree.
    @Test func dumpfileRoundTrip() throws {
        let tree = try Dumpfile.parse(Array(Self.simple.utf8))
        let printed = Dumpfile.write(tree)
        #expect(String(decoding: printed, as: UTF8.self) == Self.simple)
        #expect(Dumpfile.write(try Dumpfile.parse(printed)) == printed)
    }

    @Test func escapesSurviveTheRoundTrip() throws {
        let text = "/ 0 40755 2 0 0 0 0.0 - - -\n/a\\x20b\\x3d 3 100644 1 0 0 0 1.5 - -\\n\\\\ - user.k\\x3dy=v\\x20\\x00\\xff\n"
        let tree = try Dumpfile.parse(Array(text.utf8))
        let file = try #require(tree.child(named: Array("a b=".utf8)))
        #expect(file.content == [UInt8(ascii: "-"), 10, UInt8(ascii: "\\")])
        #expect(file.xattrs == [FileNode.Xattr(name: Array("user.k=y".utf8), value: [UInt8(ascii: "v"), 0x20, 0, 0xFF])])
        #expect(file.mtime == FileNode.Timestamp(seconds: 1, nanoseconds: 5))
        #expect(String(decoding: Dumpfile.write(tree), as: UTF8.self) == text.replacingOccurrences(of: "b\\x3d ", with: "b= "))
    }

    @Test(arguments: [
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - -\n/y/z 0 100644 1 0 0 0 0.0 - - -\n", 3, "parent directory"),
        ("/x 0 100644 1 0 0 0 0.0 - - -\n", 1, "before the root"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 zero - - -\n", 2, "MTIME"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 3 100644 1 0 0 0 0.0 - ab -\n", 2, "SIZE"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - \\q -\n", 2, "escape"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 @100644 1 0 0 0 0.0 /nope - -\n", 2, "hard link target"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/. 0 100644 1 0 0 0 0.0 - - -\n", 2, "'.'"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 170644 1 0 0 0 0.0 - - -\n", 2, "mode"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - - - novalue\n", 2, "'='"),
        ("/ 0 40755 2 0 0 0 0.0 - - -\n/l 0 120777 1 0 0 0 0.0 - - -\n", 2, "symlink"),
    ])
    func malformedLinesNameTheirNumber(text: String, line: Int, problem: String) {
        #expect {
            _ = try Dumpfile.parse(Array(text.utf8))
        } throws: { error in
            guard let error = error as? DumpfileError else { return false }
            return error.line == line && error.problem.contains(problem)
        }
    }
}
