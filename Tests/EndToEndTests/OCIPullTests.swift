import Foundation
import Testing

/// `cairn oci pull` from OCI layouts that umoci and skopeo build (gzip, zstd and plain layers,
/// whiteouts, an opaque directory, hard links across layers, xattrs, long names, a 3 MiB file):
/// the composefs image, mounted as composefs is (EROFS plus overlayfs with `objects/` as a
/// data-only lower layer), must serve exactly the tree `umoci unpack` makes, with composefs's
/// OCI rules applied. Then tags, garbage collection and fsck, and bad input.
@Suite(.serialized) struct OCIPullTests {
    static let support = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Support")
    static let imageScript = support.appendingPathComponent("oci_image.py").path
    static let treeScript = support.appendingPathComponent("composefs_tree.py").path

    /// A scratch directory with the test layout (`img`, tags v1 and v2) and an empty repository.
    static func setUp() throws -> (Scratch, layout: String, repo: String) {
        let scratch = try Scratch()
        let layout = scratch.file("img"), repo = scratch.file("repo")
        let made = try run("/usr/bin/env", ["python3", imageScript, "make", layout])
        #expect(made.succeeded, "\(made.stderr)")
        let initialized = try cairn("repo", "init", "--repo", repo, "--insecure")
        #expect(initialized.succeeded, "\(initialized.stderr)")
        return (scratch, layout, repo)
    }

    static func pull(_ repo: String, _ source: String, _ tag: String, _ options: String...) throws -> [String: Any] {
        let pulled = try run(cairnPath, ["oci", "pull", "--repo", repo, "--json", source, tag] + options)
        #expect(pulled.succeeded, "\(pulled.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(pulled.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Mounts the image tagged `tag` as composefs and compares it with `umoci unpack` of
    /// `layout:reference` after composefs's OCI transform. Returns the comparison's output.
    static func compareMounted(repo: String, tag: String, layout: String, reference: String, in scratch: Scratch) throws -> Run {
        let images = try cairn("oci", "images", "--repo", repo, "--json")
        let list = (try? JSONSerialization.jsonObject(with: Data(images.stdout.utf8)) as? [[String: Any]]) ?? []
        let image = try #require(list.first { $0["tag"] as? String == tag }?["image"] as? String, "\(images.stdout)")
        let imagePath = repo + "/images/" + image
        let fsck = try run("/usr/bin/env", ["fsck.erofs", imagePath])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")

        let label = String(tag.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        let unpacked = scratch.file("unpacked-\(label)")
        let unpack = try run("/usr/bin/env", ["umoci", "unpack", "--image", "\(layout):\(reference)", unpacked])
        #expect(unpack.succeeded, "\(unpack.stderr)")
        #expect(try run("/usr/bin/env", ["python3", imageScript, "transform", unpacked + "/rootfs"]).succeeded)

        let mount = try ComposefsMount(image: imagePath, objects: repo + "/objects", in: scratch, label: label)
        return try withExtendedLifetime(mount) { try run("/usr/bin/env", ["python3", treeScript, "compare", "--hard-links", unpacked + "/rootfs", mount.path]) }
    }

    @Test func pulledImageIsTheMergedTree() throws {
        let (scratch, layout, repo) = try Self.setUp()
        let first = try Self.pull(repo, "oci:\(layout):v1", "v1")
        #expect(first["layersImported"] as? Int == 1)
        let second = try Self.pull(repo, "oci:\(layout):v2", "example.com/os/image:v2")
        #expect(second["layersImported"] as? Int == 2 && second["layersPresent"] as? Int == 1, "\(second)")
        #expect(FileManager.default.fileExists(atPath: repo + "/streams/refs/oci/example.com%2Fos%2Fimage:v2"))

        let compared = try Self.compareMounted(repo: repo, tag: "example.com/os/image:v2", layout: layout, reference: "v2", in: scratch)
        #expect(compared.succeeded && compared.stdout.contains("compared 352 entries, 0 differences"), "\(compared.stdout)")
        let v1 = try Self.compareMounted(repo: repo, tag: "v1", layout: layout, reference: "v1", in: scratch)
        #expect(v1.succeeded, "\(v1.stdout)")

        // `cairn oci mount` serves the same tree (the harness's mount above is mount(8)'s).
        let target = scratch.file("oci-mount")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let mounted = try cairn("oci", "mount", "--repo", repo, "example.com/os/image:v2", target)
        #expect(mounted.succeeded, "\(mounted.stderr)")
        let viaCairn = try run("/usr/bin/env", ["python3", Self.treeScript, "compare", "--hard-links", scratch.file("unpacked-example-com-os-image-v2") + "/rootfs", target])
        _ = try run("/usr/bin/env", ["umount", target])
        #expect(viaCairn.succeeded && viaCairn.stdout.contains("352 entries, 0 differences"), "\(viaCairn.stdout)")
        let notMountable = try cairn("oci", "mount", "--repo", repo, "no-such-tag", target)
        #expect(!notMountable.succeeded && notMountable.stderr.contains("no-such-tag"))

        // The dump is the merged tree: the opaque directory holds only the new file, whiteouts
        // removed their names, /run is empty, the hard link into the first layer shares its inode.
        let dump = try cairn("oci", "dump", "--repo", repo, "example.com/os/image:v2")
        #expect(dump.succeeded, "\(dump.stderr)")
        let paths = dump.stdout.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        #expect(paths.contains("/opt/dir/z") && !paths.contains("/opt/dir/x"))
        #expect(!paths.contains("/etc/a") && !paths.contains("/usr/lib/libgone") && paths.contains("/usr/bin/new"))
        #expect(!paths.contains { $0.hasPrefix("/run/") })
        #expect(dump.stdout.contains("/usr/lib/big-again 3145728 @100644 3 "), "\(dump.stdout.split(separator: "\n").filter { $0.contains("/usr/lib/big") })")

        // Pulled again: nothing imported, the same image.
        let again = try Self.pull(repo, "oci:\(layout):v2", "again")
        #expect(again["layersImported"] as? Int == 0 && again["image"] as? String == second["image"] as? String)
        let fsck = try cairn("repo", "fsck", "--repo", repo)
        #expect(fsck.succeeded && fsck.stdout.contains("ok:"), "\(fsck.stdout)")

        // Every layer stream reassembles into its tar; one pointed at another layer's stream does not.
        let layers = try FileManager.default.contentsOfDirectory(atPath: repo + "/streams").filter { $0.hasPrefix("oci-layer-") }.sorted()
        #expect(layers.count == 3)
        let other = try FileManager.default.destinationOfSymbolicLink(atPath: repo + "/streams/" + layers[1])
        try FileManager.default.removeItem(atPath: repo + "/streams/" + layers[0])
        try FileManager.default.createSymbolicLink(atPath: repo + "/streams/" + layers[0], withDestinationPath: other)
        let broken = try cairn("repo", "fsck", "--repo", repo)
        #expect(!broken.succeeded && broken.stdout.contains("layer stream \(layers[0]) reassembles to"), "\(broken.stdout)")
    }

    /// zstd layers (skopeo) and plain ones give the same layers and so the same image.
    @Test func zstdAndPlainLayers() throws {
        let (scratch, layout, repo) = try Self.setUp()
        let gzip = try Self.pull(repo, "oci:\(layout):v2", "gzip")
        let zstdLayout = scratch.file("zstd")
        let copied = try run("/usr/bin/env", ["skopeo", "copy", "--dest-compress", "--dest-compress-format", "zstd", "oci:\(layout):v2", "oci:\(zstdLayout):v2"])
        #expect(copied.succeeded, "\(copied.stderr)")
        #expect(try run("/usr/bin/env", ["python3", Self.imageScript, "plain", layout, "v2"]).succeeded)
        for (source, name) in [("oci:\(zstdLayout):v2", "zstd"), ("oci:\(layout):v2-plain", "plain")] {
            let fresh = scratch.file("repo-\(name)")
            #expect(try cairn("repo", "init", "--repo", fresh, "--insecure").succeeded)
            let pulled = try Self.pull(fresh, source, name)
            #expect(pulled["layersImported"] as? Int == 3 && pulled["image"] as? String == gzip["image"] as? String, "\(name): \(pulled)")
        }
        let compared = try Self.compareMounted(repo: scratch.file("repo-zstd"), tag: "zstd", layout: layout, reference: "v2", in: scratch)
        #expect(compared.succeeded, "\(compared.stdout)")
    }

    /// An oci-archive (skopeo) gives the layout's image; inspect shows the manifest and config as
    /// pulled; compute-id makes the composefs image again from the layers and gets the same digest.
    @Test func archiveInspectAndComputeID() throws {
        let (scratch, layout, repo) = try Self.setUp()
        let archive = scratch.file("img.tar")
        let copied = try run("/usr/bin/env", ["skopeo", "copy", "oci:\(layout):v2", "oci-archive:\(archive):v2"])
        #expect(copied.succeeded, "\(copied.stderr)")
        let fromArchive = try Self.pull(repo, "oci-archive:\(archive):v2", "archived")
        let fromLayout = try Self.pull(repo, "oci:\(layout):v2", "laid-out")
        #expect(fromArchive["layersImported"] as? Int == 3 && fromLayout["layersImported"] as? Int == 0)
        #expect(fromArchive["image"] as? String == fromLayout["image"] as? String)

        let inspected = try cairn("oci", "inspect", "--repo", repo, "archived")
        #expect(inspected.succeeded, "\(inspected.stderr)")
        let report = (try? JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any]) ?? [:]
        let config = report["config"] as? [String: Any]
        #expect(((config?["rootfs"] as? [String: Any])?["diff_ids"] as? [String])?.count == 3, "\(inspected.stdout)")
        #expect((report["manifest"] as? [String: Any])?["layers"] != nil)
        #expect((report["image"] as? [String: Any])?["image"] as? String == fromArchive["image"] as? String)

        let computed = try cairn("oci", "compute-id", "--repo", repo, "archived")
        #expect(computed.succeeded && computed.stdout == (fromArchive["image"] as? String ?? "-") + "\n", "\(computed.stdout) \(computed.stderr)")
        let missing = try cairn("oci", "pull", "--repo", repo, "oci-archive:\(archive):nope", "x")
        #expect(!missing.succeeded && missing.stderr.contains("no image named 'nope'"), "\(missing.stderr)")
    }

    /// Two images sharing a layer: untag one and collect; the other still mounts whole and
    /// fsck passes; a dry run deletes nothing; untag both and nothing is left.
    @Test func garbageCollectionFollowsTags() throws {
        let (scratch, layout, repo) = try Self.setUp()
        _ = try Self.pull(repo, "oci:\(layout):v1", "v1")
        _ = try Self.pull(repo, "oci:\(layout):v2", "v2")
        #expect(try cairn("oci", "untag", "--repo", repo, "v1").succeeded)
        let before = try Self.objectFiles(repo)
        let dryRun = try cairn("repo", "gc", "--repo", repo, "--dry-run", "--json")
        #expect(dryRun.succeeded, "\(dryRun.stderr)")
        #expect(try Self.objectFiles(repo) == before)
        let collected = try cairn("repo", "gc", "--repo", repo, "--json")
        #expect(collected.succeeded && collected.stdout == dryRun.stdout, "\(collected.stdout) vs \(dryRun.stdout)")
        let report = (try? JSONSerialization.jsonObject(with: Data(collected.stdout.utf8)) as? [String: Any]) ?? [:]
        #expect((report["objects"] as? Int ?? 0) > 0 && (report["links"] as? Int ?? 0) > 0, "\(collected.stdout)")
        #expect(try Self.objectFiles(repo).isSubset(of: before))
        #expect(try cairn("repo", "fsck", "--repo", repo).succeeded)
        let compared = try Self.compareMounted(repo: repo, tag: "v2", layout: layout, reference: "v2", in: scratch)
        #expect(compared.succeeded, "\(compared.stdout)")

        #expect(try cairn("oci", "untag", "--repo", repo, "v2").succeeded)
        #expect(try cairn("repo", "gc", "--repo", repo).succeeded)
        #expect(try Self.objectFiles(repo).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/streams") == ["refs"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/images").isEmpty)
        let untagAgain = try cairn("oci", "untag", "--repo", repo, "v2")
        #expect(!untagAgain.succeeded && untagAgain.stderr.contains("v2"))
    }

    /// Hostile layers, a damaged blob and a missing one: an error that names the entry or blob,
    /// a non-zero exit, and no tag.
    @Test func badImagesAreRefused() throws {
        let (scratch, layout, repo) = try Self.setUp()
        defer { withExtendedLifetime(scratch) {} }
        let hostile = ["dotdot": "'..'", "through-symlink": "not a directory", "dangling-hardlink": "hard link", "no-parent": "not made"]
        for (name, complaint) in hostile {
            #expect(try run("/usr/bin/env", ["python3", Self.imageScript, "hostile", layout, name]).succeeded)
            let pulled = try cairn("oci", "pull", "--repo", repo, "oci:\(layout):\(name)", name)
            #expect(!pulled.succeeded && pulled.stderr.contains(complaint), "\(name): \(pulled.stderr)")
        }
        // A layer blob with one byte changed.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as! [String: Any]
        let v1 = (index["manifests"] as! [[String: Any]]).first { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == "v1" }!
        let manifestPath = layout + "/blobs/sha256/" + (v1["digest"] as! String).dropFirst(7)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as! [String: Any]
        let layer = (manifest["layers"] as! [[String: Any]])[0]["digest"] as! String
        let blob = layout + "/blobs/sha256/" + layer.dropFirst(7)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        bytes[bytes.count / 2] ^= 0x55
        try bytes.write(to: URL(fileURLWithPath: blob))
        let damaged = try cairn("oci", "pull", "--repo", repo, "oci:\(layout):v1", "v1")
        #expect(!damaged.succeeded && damaged.stderr.contains(layer), "\(damaged.stderr)")
        try FileManager.default.removeItem(atPath: blob)
        let missing = try cairn("oci", "pull", "--repo", repo, "oci:\(layout):v1", "v1")
        #expect(!missing.succeeded && missing.stderr.contains(layer), "\(missing.stderr)")
        let unknown = try cairn("oci", "pull", "--repo", repo, "oci:\(layout):nope", "x")
        #expect(!unknown.succeeded && unknown.stderr.contains("nope"), "\(unknown.stderr)")

        let images = try cairn("oci", "images", "--repo", repo)
        #expect(images.succeeded && images.stdout.isEmpty, "\(images.stdout)")
        #expect(try cairn("repo", "gc", "--repo", repo).succeeded)
        #expect(try Self.objectFiles(repo).isEmpty)
    }

    static func objectFiles(_ repo: String) throws -> Set<String> {
        Set(try FileManager.default.subpathsOfDirectory(atPath: repo + "/objects").filter { $0.contains("/") })
    }
}
