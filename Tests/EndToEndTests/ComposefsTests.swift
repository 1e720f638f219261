import Foundation
import Testing

/// `cairn mkcomposefs` from a directory, checked by the real readers: fsck.erofs, and the kernel
/// mounting the image as composefs does (EROFS, then overlayfs with the digest store as a
/// data-only lower layer).
@Suite(.serialized) struct ComposefsTests {
    static let treeScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/composefs_tree.py").path

    @Test func directoryImageMountsAsComposefs() throws {
        let scratch = try Scratch()
        let source = scratch.file("src"), store = scratch.file("store"), image = scratch.file("image.cfs")
        let made = try run("/usr/bin/env", ["python3", Self.treeScript, "make", source])
        #expect(made.succeeded, "\(made.stderr)")

        let built = try cairn("mkcomposefs", "--print-digest", "--digest-store", store, source, image)
        #expect(built.succeeded, "\(built.stderr)")
        let measured = try cairn("composefs-info", "measure-file", image)
        #expect(measured.stdout == built.stdout && built.stdout.count == 65, "\(built.stdout) \(measured.stdout)")

        // Objects are named by their fs-verity digest; files of at most 64 bytes stay in the image.
        let objects = try FileManager.default.subpathsOfDirectory(atPath: store).filter { $0.count == 65 }
        #expect(objects.count == 10, "\(objects.sorted())")
        for object in objects.prefix(3) {
            let digest = try cairn("composefs-info", "measure-file", store + "/" + object)
            #expect(digest.stdout == object.replacingOccurrences(of: "/", with: "") + "\n")
        }
        let again = try cairn("mkcomposefs", "--print-digest-only", source)
        #expect(again.stdout == built.stdout, "the same tree gives the same image")

        let fsck = try run("/usr/bin/env", ["fsck.erofs", image])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")

        let mount = try ComposefsMount(image: image, objects: store, in: scratch)
        let compared = try withExtendedLifetime(mount) { try run("/usr/bin/env", ["python3", Self.treeScript, "compare", source, mount.path]) }
        #expect(compared.succeeded, "\(compared.stdout)")
        #expect(compared.stdout.contains("compared 332 entries"), "\(compared.stdout)")
    }

    /// A full EROFS image of the same tree: fsck.erofs reads every byte, the kernel mounts it and
    /// serves every entry, hard links included; the same tree (even copied elsewhere) gives the
    /// same bytes.
    @Test func fullImageOfADirectory() throws {
        let scratch = try Scratch()
        let source = scratch.file("src"), image = scratch.file("full.erofs")
        #expect(try run("/usr/bin/env", ["python3", Self.treeScript, "make", source]).succeeded)
        let built = try cairn("mkfs-erofs", image, source)
        #expect(built.succeeded, "\(built.stderr)")
        let fsck = try run("/usr/bin/env", ["fsck.erofs", "--extract", image])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")

        let copy = scratch.file("copy")
        #expect(try run("/usr/bin/env", ["cp", "-a", source, copy]).succeeded)
        #expect(try cairn("mkfs-erofs", scratch.file("again.erofs"), copy).succeeded)
        #expect(try scratch.read("full.erofs") == scratch.read("again.erofs"), "the same tree gives the same image")

        let mount = try ErofsMount(image: image, at: scratch.file("mnt"))
        let compared = try withExtendedLifetime(mount) { try run("/usr/bin/env", ["python3", Self.treeScript, "compare", "--hard-links", source, mount.path]) }
        #expect(compared.succeeded && compared.stdout.contains("compared 332 entries"), "\(compared.stdout)")
    }

    /// The same tree as a tar archive (GNU tar, PAX with xattrs), plain, gzip, zstd and on
    /// standard input: each image mounts and matches the tree (less the socket tar cannot hold).
    @Test func fullImageOfATarArchive() throws {
        let scratch = try Scratch()
        let source = scratch.file("src"), tar = scratch.file("tree.tar")
        #expect(try run("/usr/bin/env", ["python3", Self.treeScript, "make", source]).succeeded)
        try FileManager.default.removeItem(atPath: source + "/socket")
        let packed = try run("/usr/bin/env", ["tar", "--xattrs", "--xattrs-include=*", "--format=pax", "-C", source, "-cf", tar, "."])
        #expect(packed.succeeded, "\(packed.stderr)")
        #expect(try run("/usr/bin/env", ["sh", "-c", "gzip -c \(tar) > \(tar).gz && zstd -q -c \(tar) > \(tar).zst"]).succeeded)

        for (name, arguments) in [
            ("plain", ["mkfs-erofs", scratch.file("plain.erofs"), tar]),
            ("gzip", ["mkfs-erofs", scratch.file("gzip.erofs"), tar + ".gz"]),
            ("zstd", ["mkfs-erofs", scratch.file("zstd.erofs"), tar + ".zst"]),
        ] {
            let built = try run(cairnPath, arguments)
            #expect(built.succeeded, "\(name): \(built.stderr)")
        }
        let piped = try run("/usr/bin/env", ["sh", "-c", "\(cairnPath) mkfs-erofs \(scratch.file("stdin.erofs")) - < \(tar).zst"])
        #expect(piped.succeeded, "\(piped.stderr)")
        for name in ["gzip", "zstd", "stdin"] {
            #expect(try scratch.read("plain.erofs") == scratch.read("\(name).erofs"), "\(name) gives the plain archive's image")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasPrefix(".") }.isEmpty, "no spool left behind")

        let fsck = try run("/usr/bin/env", ["fsck.erofs", "--extract", scratch.file("plain.erofs")])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")
        let mount = try ErofsMount(image: scratch.file("plain.erofs"), at: scratch.file("mnt"))
        let compared = try withExtendedLifetime(mount) { try run("/usr/bin/env", ["python3", Self.treeScript, "compare", "--hard-links", source, mount.path]) }
        #expect(compared.succeeded && compared.stdout.contains("compared 331 entries"), "\(compared.stdout)")
    }

    /// Archives that try to write outside the tree, or through a symlink, are refused by entry.
    @Test func hostileTarArchivesAreRefused() throws {
        let scratch = try Scratch()
        let script = """
            import io, sys, tarfile
            def archive(path, entries):
                with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
                    for name, kind, target in entries:
                        info = tarfile.TarInfo(name)
                        if kind == "dir": info.type = tarfile.DIRTYPE
                        elif kind == "symlink": info.type, info.linkname = tarfile.SYMTYPE, target
                        elif kind == "hardlink": info.type, info.linkname = tarfile.LNKTYPE, target
                        data = b"x" if kind == "file" else b""
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            archive(sys.argv[1] + "/dotdot.tar", [("a", "dir", ""), ("a/../../evil", "file", "")])
            archive(sys.argv[1] + "/through-symlink.tar", [("a", "symlink", "/etc"), ("a/passwd", "file", "")])
            archive(sys.argv[1] + "/dangling-hardlink.tar", [("x", "hardlink", "missing")])
            archive(sys.argv[1] + "/replaced.tar", [("a", "file", ""), ("b", "hardlink", "a"), ("c", "hardlink", "a"), ("a", "dir", "")])
            with tarfile.open(sys.argv[1] + "/huge.tar", "w", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo("huge")
                info.size, info.pax_headers = 1, {"size": str(2 ** 64 - 1)}
                tar.addfile(info, io.BytesIO(b"x"))
            """
        #expect(try run("/usr/bin/env", ["python3", "-c", script, scratch.path]).succeeded)
        for (archive, problem) in [
            ("dotdot.tar", "tar entry a/../../evil (header at byte 512) has a '..' component"),
            ("through-symlink.tar", "tar entry a/passwd (header at byte 512) goes through /a, which is not a directory"),
            ("dangling-hardlink.tar", "tar entry x (header at byte 0) is a hard link to missing"),
            ("huge.tar", "tar entry huge (header at byte 1024) claims 18446744073709551615 bytes"),
        ] {
            let refused = try cairn("mkfs-erofs", scratch.file("out.erofs"), scratch.file(archive))
            #expect(refused.status == 1 && refused.stderr.contains(problem), "\(archive): \(refused.stderr)")
            #expect(!scratch.exists("out.erofs"))
        }
        // A file replaced after it was hard-linked lives on under its links, as tar extracts it.
        let replaced = try cairn("mkfs-erofs", scratch.file("replaced.erofs"), scratch.file("replaced.tar"))
        #expect(replaced.succeeded, "\(replaced.stderr)")
        let listing = try run("/usr/bin/env", ["fsck.erofs", "--extract=" + scratch.file("replaced"), scratch.file("replaced.erofs")])
        #expect(listing.succeeded, "\(listing.stderr)")
        #expect(try scratch.read("replaced/b") == [UInt8(ascii: "x")] && scratch.read("replaced/c") == [UInt8(ascii: "x")])
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: scratch.file("replaced/a"), isDirectory: &isDirectory) && isDirectory.boolValue)

        let garbage = try scratch.write("garbage.tar", Array(repeating: 0x41, count: 2048))
        let notTar = try cairn("mkfs-erofs", scratch.file("out.erofs"), garbage)
        #expect(notTar.status == 1 && notTar.stderr.contains("bad checksum"), "\(notTar.stderr)")
    }

    @Test func badSourcesAreNamed() throws {
        let scratch = try Scratch()
        let dump = try scratch.write("bad.dump", Array("/ 0 40755 2 0 0 0 0.0 - - -\n/x 0 100644 1 0 0 0 0.0 - \\q -\n".utf8))
        let parsed = try cairn("mkcomposefs", "--from-file", dump, scratch.file("out.cfs"))
        #expect(parsed.status == 1 && parsed.stderr.contains("bad.dump: dumpfile line 2"), "\(parsed.stderr)")
        #expect(!scratch.exists("out.cfs"))
        let missing = try cairn("mkcomposefs", scratch.file("nope"), scratch.file("out.cfs"))
        #expect(missing.status == 1 && missing.stderr.contains("nope"), "\(missing.stderr)")
        #expect(!scratch.exists("out.cfs"))
    }
}
