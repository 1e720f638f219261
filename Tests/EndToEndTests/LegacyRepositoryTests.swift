import Foundation
import Testing

/// A repository as bootc ≤ 1.15 left it: every OCI splitstream in the header layout composefs-rs
/// wrote before its `repr(C)` fix (Tests/Support/legacy_streams.py rewrites a pulled repository
/// that way, stores each stream under its new fs-verity digest and re-points the names). cairn
/// reads it as it reads its own: images, documents, composefs and boot images made again, GC and
/// fsck; a new pull over it keeps the boot image its old config names.
@Suite(.serialized) struct LegacyRepositoryTests {
    @Test func oldSplitstreamHeadersAreRead() throws {
        let (scratch, layout, repo) = try BootImageTests.setUp()
        defer { withExtendedLifetime(scratch) {} }
        let boot = try OCIPullTests.pull(repo, "oci:\(layout):boot", "boot", "--bootable")
        let plain = try OCIPullTests.pull(repo, "oci:\(layout):boot-unlabelled", "plain")
        let script = URL(fileURLWithPath: OCIPullTests.imageScript).deletingLastPathComponent().appendingPathComponent("legacy_streams.py").path
        let rewritten = try run("/usr/bin/env", ["python3", script, repo])
        #expect(rewritten.succeeded && rewritten.stdout == "rewrote 6 streams\n", "\(rewritten.stdout) \(rewritten.stderr)")
        let objectsBefore = try OCIPullTests.objectFiles(repo)

        let images = try cairn("oci", "images", "--repo", repo, "--json")
        for pulled in [boot, plain] {
            #expect(images.stdout.contains(pulled["image"] as? String ?? "?"), "\(images.stdout) \(images.stderr)")
        }
        #expect(images.stdout.contains(boot["bootImage"] as? String ?? "?"))
        let computed = try cairn("oci", "compute-id", "--repo", repo, "--bootable", "boot")
        #expect(computed.succeeded && computed.stdout == (boot["bootImage"] as? String ?? "?") + "\n", "\(computed.stdout) \(computed.stderr)")
        let inspected = try cairn("oci", "inspect", "--repo", repo, "plain")
        #expect(inspected.succeeded && inspected.stdout.contains("\"diff_ids\""), "\(inspected.stderr)")
        let fsck = try cairn("repo", "fsck", "--repo", repo)
        #expect(fsck.succeeded && fsck.stdout.contains("6 streams"), "\(fsck.stdout) \(fsck.stderr)")

        // GC frees exactly the six streams the rewrite replaced; everything else stays whole.
        let collected = try cairn("repo", "gc", "--repo", repo, "--json")
        let report = (try? JSONSerialization.jsonObject(with: Data(collected.stdout.utf8)) as? [String: Any]) ?? [:]
        #expect(collected.succeeded && report["objects"] as? Int == 6, "\(collected.stdout) \(collected.stderr)")
        #expect(try OCIPullTests.objectFiles(repo).count == objectsBefore.count - 6)
        #expect(try cairn("repo", "fsck", "--repo", repo).succeeded)

        // A pull over the old streams (no --bootable) keeps the boot image the old config names.
        let again = try OCIPullTests.pull(repo, "oci:\(layout):boot", "boot")
        #expect(again["image"] as? String == boot["image"] as? String && again["layersPresent"] as? Int == 1)
        #expect(try cairn("repo", "gc", "--repo", repo).succeeded)
        let kept = try cairn("oci", "images", "--repo", repo, "--json")
        let list = (try? JSONSerialization.jsonObject(with: Data(kept.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(list.first { $0["tag"] as? String == "boot" }?["bootImage"] as? String == boot["bootImage"] as? String, "\(kept.stdout)")
        let bootImage = try cairn("oci", "dump", "--repo", repo, "--bootable", "boot")
        #expect(bootImage.succeeded && bootImage.stdout.contains("security.selinux"), "\(bootImage.stderr)")
    }
}
