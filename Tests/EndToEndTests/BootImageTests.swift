import Foundation
import Testing

/// `cairn oci pull --bootable`: the boot variant of composefs-rs's `transform_for_boot` made in
/// the same pass as the image. Its SELinux labels, from the policy the image carries, must be
/// the ones libselinux (matchpathcon) gives every path; /boot and /sysroot are emptied.
@Suite(.serialized) struct BootImageTests {
    static let imageScript = OCIPullTests.imageScript

    /// A layout with `boot`, `boot-unlabelled` and `boot-nosysroot`, and an empty repository.
    static func setUp() throws -> (Scratch, layout: String, repo: String) {
        let scratch = try Scratch()
        let layout = scratch.file("img"), repo = scratch.file("repo")
        for step in [["umoci", "init", "--layout", layout], ["umoci", "new", "--image", layout + ":empty"], ["python3", imageScript, "bootable", layout]] {
            let made = try run("/usr/bin/env", step)
            #expect(made.succeeded, "\(step): \(made.stderr)")
        }
        #expect(try cairn("repo", "init", "--repo", repo, "--insecure").succeeded)
        return (scratch, layout, repo)
    }

    static func dump(_ repo: String, _ tag: String, bootable: Bool) throws -> [String: String] {
        let dumped = try run(cairnPath, ["oci", "dump", "--repo", repo, tag] + (bootable ? ["--bootable"] : []))
        #expect(dumped.succeeded, "\(dumped.stderr)")
        return Dictionary(dumped.stdout.split(separator: "\n").map { (String($0.prefix { $0 != " " }), String($0)) }) { a, _ in a }
    }

    @Test func bootVariantIsLabelledFromTheImagePolicy() throws {
        let (scratch, layout, repo) = try Self.setUp()
        let pulled = try OCIPullTests.pull(repo, "oci:\(layout):boot", "boot", "--bootable")
        let image = try #require(pulled["image"] as? String), boot = try #require(pulled["bootImage"] as? String, "\(pulled)")
        #expect(image != boot)
        let fsck = try run("/usr/bin/env", ["fsck.erofs", repo + "/images/" + boot])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")

        // Every label is libselinux's for that path (but where composefs-rs's rule differs, see
        // oci_image.py): aliases (one to another parent), .local, .homedirs, <<none>>, typed specs.
        let dumped = try cairn("oci", "dump", "--repo", repo, "--bootable", "boot")
        let dumpfile = scratch.file("boot.dump")
        try dumped.stdout.write(toFile: dumpfile, atomically: true, encoding: .utf8)
        let labels = try run("/usr/bin/env", ["python3", Self.imageScript, "labels", dumpfile])
        #expect(labels.succeeded && labels.stdout.contains("checked 46 labels, 0 differences"), "\(labels.stdout) \(labels.stderr)")
        let tree = try Self.dump(repo, "boot", bootable: true)
        // A hard link's names that want other labels than its first get a copy each, as in
        // composefs-rs: bash and bash2 still share an inode, tool and tool3 have one each.
        #expect(tree["/usr/lib/tool"]?.contains("lib_t") == true && tree["/usr/bin/bash"]?.contains("bin_t") == true)
        #expect(tree["/usr/bin/bash"]?.split(separator: " ")[3] == "2" && tree["/usr/bin/bash2"]?.contains(" @100755 2 ") == true)
        #expect(tree["/usr/lib/tool"]?.split(separator: " ")[3] == "1" && tree["/usr/lib/tool3"]?.split(separator: " ")[3] == "1")
        #expect(tree["/usr/bin/labelled"]?.contains("wrong_t") == false)
        // /boot and /sysroot are empty and take /usr's mtime seconds (1700000123.5), keeping
        // their own nanoseconds (/boot's .25), as composefs-rs does.
        #expect(!tree.keys.contains { $0.hasPrefix("/boot/") || $0.hasPrefix("/sysroot/") })
        #expect(tree["/boot"]?.split(separator: " ")[7] == "1700000123.250000000", "\(tree["/boot"] ?? "")")
        #expect(tree["/sysroot"]?.split(separator: " ")[7] == "1700000123.0", "\(tree["/sysroot"] ?? "")")
        // The plain image is untouched: /boot's files, no labels.
        let plain = try Self.dump(repo, "boot", bootable: false)
        #expect(plain["/boot/vmlinuz"] != nil && plain["/sysroot/ostree/repo"] != nil)
        #expect(!plain.values.contains { $0.contains("security.selinux") })

        // compute-id makes the same boot image again; a pull without --bootable keeps it.
        let computed = try cairn("oci", "compute-id", "--repo", repo, "--bootable", "boot")
        #expect(computed.succeeded && computed.stdout == boot + "\n", "\(computed.stdout) \(computed.stderr)")
        _ = try OCIPullTests.pull(repo, "oci:\(layout):boot", "boot")
        let images = try cairn("oci", "images", "--repo", repo, "--json")
        #expect(images.stdout.contains(boot), "\(images.stdout)")

        // Mounted, the boot image serves the labels; GC keeps it while the tag lives.
        #expect(try cairn("repo", "gc", "--repo", repo).succeeded)
        let target = scratch.file("boot-mount")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let mounted = try cairn("oci", "mount", "--repo", repo, "--bootable", "boot", target)
        #expect(mounted.succeeded, "\(mounted.stderr)")
        let read = try run("/usr/bin/env", ["python3", "-c", "import os, sys; print(os.getxattr(sys.argv[1] + '/etc/shadow', 'security.selinux').decode(), os.listdir(sys.argv[1] + '/boot'), open(sys.argv[1] + '/usr/lib/tool').read() == open(sys.argv[1] + '/usr/bin/bash').read())", target])
        _ = try run("/usr/bin/env", ["umount", target])
        #expect(read.stdout == "system_u:object_r:shadow_t:s0 [] True\n", "\(read.stdout) \(read.stderr)")
        #expect(try cairn("repo", "fsck", "--repo", repo).succeeded)
        #expect(try cairn("oci", "untag", "--repo", repo, "boot").succeeded)
        #expect(try cairn("repo", "gc", "--repo", repo).succeeded)
        #expect(try OCIPullTests.objectFiles(repo).isEmpty)
    }

    @Test func imagesWithoutPolicyOrSysrootOrWithABadPolicy() throws {
        let (scratch, layout, repo) = try Self.setUp()
        defer { withExtendedLifetime(scratch) {} }
        // No /etc/selinux: every label goes, the one the layer carried included.
        _ = try OCIPullTests.pull(repo, "oci:\(layout):boot-unlabelled", "unlabelled", "--bootable")
        let tree = try Self.dump(repo, "unlabelled", bootable: true)
        #expect(tree["/usr/bin/labelled"] != nil && !tree.values.contains { $0.contains("security.selinux") })

        // No /sysroot: not bootable, said so, and nothing tagged.
        let refused = try cairn("oci", "pull", "--repo", repo, "--bootable", "oci:\(layout):boot-nosysroot", "nosysroot")
        #expect(!refused.succeeded && refused.stderr.contains("/sysroot"), "\(refused.stderr)")
        let images = try cairn("oci", "images", "--repo", repo)
        #expect(!images.stdout.contains("nosysroot"), "\(images.stdout)")
        let noBoot = try cairn("oci", "dump", "--repo", repo, "--bootable", "nosysroot")
        #expect(!noBoot.succeeded && noBoot.stderr.contains("no image is tagged 'nosysroot'"), "\(noBoot.stderr)")
        // A policy whose regex does not compile: the file and line are named.
        let badPolicy = try cairn("oci", "pull", "--repo", repo, "--bootable", "oci:\(layout):boot-badpolicy", "badpolicy")
        #expect(!badPolicy.succeeded && badPolicy.stderr.contains("/etc/selinux/targeted/contexts/files/file_contexts line 2"), "\(badPolicy.stderr)")
    }
}
