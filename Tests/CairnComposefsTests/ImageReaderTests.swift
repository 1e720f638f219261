import CairnComposefs
import Foundation
import CairnErofs
import Testing

/// The reader on images it wrote, and on corrupt and hostile ones: an error naming the problem
/// or a tree, never a crash or a hang.
@Suite struct ImageReaderTests {
    static let tree = """
        / 0 40755 3 0 0 0 10.0 - - - user.root=1
        /dir 0 40755 2 7 8 0 11.5 - - - user.shared=value
        /dir/inline 5 100644 2 0 0 0 10.0 - hello - user.shared=value
        /dir/link 0 @100644 0 0 0 0 0.0 /dir/inline - -
        /ext 100000 100600 1 70000 0 0 10.0 ab/\(String(repeating: "cd", count: 31)) - ab\(String(repeating: "cd", count: 31)) user.shared=value security.capability=\\x01\\x00
        /dev 0 20644 1 0 0 259 10.0 - - -
        /sym 3 120777 1 0 0 0 10.0 dir - -
        /wh 0 20000 1 0 0 0 10.0 - - -

        """

    static func image(version: UInt32 = 1) throws -> [UInt8] {
        var options = ComposefsImage.Options()
        (options.minimumVersion, options.maximumVersion) = (version, version)
        return try ComposefsImage.write(try Dumpfile.parse(Array(tree.utf8)), options: options)
    }

    @Test func readsBackWhatItWrote() throws {
        let bytes = try Self.image()
        let image = try ErofsImage(MemoryImage(bytes))
        #expect(image.composefsVersion == 1)
        let tree = try ComposefsImage.read(image)
        let printed = String(decoding: Dumpfile.write(tree), as: UTF8.self)
        #expect(printed.contains("/dir/link 5 @100644 2 0 0 0 10.0 /dir/inline hello -"), "\(printed)")
        #expect(printed.contains("/ext 100000 100600 1 70000 0 0 10.0 ab/cdcd"), "\(printed)")
        #expect(printed.contains("/wh 0 20000 1 0 0 0 10.0 - - -"), "\(printed)")
        // The whiteout's directory gets composefs's opaque marker in format 1, as C prints it.
        #expect(printed.contains("/ 4096 40755 3 0 0 0 10.0 - - - trusted.overlay.opaque=x user.overlay.opaque=x user.root=1\n"), "\(printed)")
        #expect(!printed.contains("/00 "), "the whiteout stubs stay hidden")
        #expect(ComposefsImage.objects(of: tree) == [Array("ab/\(String(repeating: "cd", count: 31))".utf8)])
        // The image written again from what was read is the same image.
        var options = ComposefsImage.Options()
        (options.minimumVersion, options.maximumVersion) = (1, 1)
        #expect(try ComposefsImage.write(try Dumpfile.parse(Dumpfile.write(tree)), options: options) == bytes)
    }

    /// Every truncation and thousands of byte flips: errors, or trees, but no crash.
    @Test func survivesCorruption() throws {
        let bytes = try Self.image()
        var outcomes = (errors: 0, trees: 0)
        func attempt(_ candidate: [UInt8]) {
            do {
                _ = try ComposefsImage.read(try ErofsImage(MemoryImage(candidate)))
                outcomes.trees += 1
            } catch {
                outcomes.errors += 1
            }
        }
        for length in stride(from: 0, to: bytes.count, by: 7) { attempt(Array(bytes[..<length])) }
        var random = SplitMix(seed: 42)
        for _ in 0..<4000 {
            var candidate = bytes
            for _ in 0..<Int(random.next() % 4 + 1) {
                // Most flips land in the metadata (the first blocks), where they matter.
                let position = Int(random.next() % UInt64(min(candidate.count, 8192)))
                candidate[position] = UInt8(truncatingIfNeeded: random.next())
            }
            attempt(candidate)
        }
        #expect(outcomes.errors > 100 && outcomes.trees > 100, "\(outcomes)")
    }

    /// A directory entry that points back at the root is a loop, reported as such.
    @Test func directoryLoopsAreErrors() throws {
        var bytes = try Self.image()
        let image = try ErofsImage(MemoryImage(bytes))
        let root = try image.root()
        let dir = try #require(try image.entries(of: root).first { $0.name == Array("dir".utf8) })
        let dirInode = try image.inode(dir.nid)
        // Point /dir's "inline" entry at the root inode (nid 36).
        let extents = try image.extents(of: dirInode)
        let start = Int(try #require(extents.first?.offset))
        let entries = try image.entries(of: dirInode)
        let index = try #require(entries.firstIndex { $0.name == Array("inline".utf8) })
        for byte in 0..<8 { bytes[start + index * 12 + byte] = UInt8(truncatingIfNeeded: root.nid >> (8 * UInt64(byte))) }
        bytes[start + index * 12 + 10] = 2
        #expect(throws: ErofsError.self) { try ComposefsImage.read(try ErofsImage(MemoryImage(bytes))) }
    }

    @Test func hostileSizesAreRefusedBeforeAllocating() throws {
        var bytes = try Self.image()
        let image = try ErofsImage(MemoryImage(bytes))
        let ext = try #require(try image.entries(of: image.root()).first { $0.name == Array("ext".utf8) })
        let inode = try image.inode(ext.nid)
        // A 2^63-byte external file with 4 KiB chunks would need 2^51 chunk entries.
        let offset = Int(UInt64(image.superblock.metaBlock) * 4096 + inode.nid * 32)
        let isExtended = bytes[offset] & 1 == 1
        if isExtended {
            for byte in 0..<8 { bytes[offset + 8 + byte] = byte == 7 ? 0x7F : 0xFF }
        } else {
            for byte in 0..<4 { bytes[offset + 8 + byte] = 0xFF }
        }
        bytes[offset + 16] = 0  // chunk format: 4 KiB chunks
        let hostile = try ErofsImage(MemoryImage(bytes))
        #expect(throws: ErofsError.self) { try hostile.extents(of: try hostile.inode(ext.nid)) }
    }
}

/// The reader as gates use it: look a path up, read the file, through the digest store for an
/// external file; a damaged object is named.
@Suite struct ImageContentTests {
    @Test func filesReadThroughTheDigestStore() throws {
        let base = NSTemporaryDirectory() + "cairn-contents-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let source = base + "/src", store = base + "/objects"
        try FileManager.default.createDirectory(atPath: source + "/etc", withIntermediateDirectories: true)
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(big).write(to: URL(fileURLWithPath: source + "/etc/big"))
        try Data("small\n".utf8).write(to: URL(fileURLWithPath: source + "/etc/small"))
        let (tree, files) = try DirectorySource.scan(source)
        try files.fillStore(store)
        let image = try ErofsImage(MemoryImage(try ComposefsImage.write(tree)))

        let bigInode = try #require(try image.lookup(Array("/etc/big".utf8)))
        #expect(try ComposefsImage.contents(of: bigInode, in: image, objects: store) == big)
        let smallInode = try #require(try image.lookup(Array("etc/small".utf8)))
        #expect(try ComposefsImage.contents(of: smallInode, in: image, objects: store) == Array("small\n".utf8))
        #expect(try image.lookup(Array("/etc/missing".utf8)) == nil)
        #expect(try image.lookup(Array("/etc/small/below".utf8)) == nil)

        // A damaged object fails its fs-verity digest, and the error names it.
        let object = store + "/" + String(decoding: try #require(ComposefsImage.objects(of: ComposefsImage.read(image)).first), as: UTF8.self)
        var damaged = big
        damaged[500] ^= 1
        try FileManager.default.removeItem(atPath: object)
        try Data(damaged).write(to: URL(fileURLWithPath: object))
        #expect {
            _ = try ComposefsImage.contents(of: bigInode, in: image, objects: store)
        } throws: { "\($0)".contains(object) && "\($0)".contains("fs-verity") }
    }

    /// composefs-rs's format 2 stores whiteouts as they are (no stubs to hide): they are entries.
    @Test func formatTwoShowsItsWhiteouts() throws {
        let root = FileNode(mode: FileType.directory.modeBits | 0o755)
        let whiteout = FileNode(mode: FileType.characterDevice.modeBits | 0o644)
        try root.add(whiteout, named: Array("gone".utf8))
        var options = ErofsWriter.Options()
        options.composefsVersion = 2
        var sink = MemorySink()
        try ErofsWriter.write(root, options: options, to: &sink)
        let tree = try ComposefsImage.read(try ErofsImage(MemoryImage(sink.bytes)))
        #expect(tree.child(named: Array("gone".utf8))?.fileType == .characterDevice)
    }
}
