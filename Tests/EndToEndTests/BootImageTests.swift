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

        // Every label is libselinux's for that path: aliases, .local, .homedirs, <<none>>, typed
        // specs; the hard link whose names want different labels was split.
        let dumped = try cairn("oci", "dump", "--repo", repo, "--bootable", "boot")
        let dumpfile = scratch.file("boot.dump")
        try dumped.stdout.write(toFile: dumpfile, atomically: true, encoding: .utf8)
        let labels = try run("/usr/bin/env", ["python3", Self.imageScript, "labels", dumpfile])
        #expect(labels.succeeded && labels.stdout.contains("checked 43 labels, 0 differences"), "\(labels.stdout) \(labels.stderr)")
        let tree = try Self.dump(repo, "boot", bootable: true)
        #expect(tree["/usr/lib/tool"]?.contains("lib_t") == true && tree["/usr/bin/bash"]?.contains("bin_t") == true)
        #expect(tree["/usr/bin/labelled"]?.contains("wrong_t") == false)
        // /boot and /sysroot are empty and take /usr's mtime.
        #expect(!tree.keys.contains { $0.hasPrefix("/boot/") || $0.hasPrefix("/sysroot/") })
        for directory in ["/boot", "/sysroot"] {
            #expect(tree[directory]?.split(separator: " ")[7] == tree["/usr"]?.split(separator: " ")[7], "\(tree[directory] ?? "")")
        }
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
        #expect(!noBoot.succeeded)
        // A policy whose regex does not compile: the file and line are named.
        let badPolicy = try cairn("oci", "pull", "--repo", repo, "--bootable", "oci:\(layout):boot-badpolicy", "badpolicy")
        #expect(!badPolicy.succeeded && badPolicy.stderr.contains("/etc/selinux/targeted/contexts/files/file_contexts line 2"), "\(badPolicy.stderr)")
    }
}
