import Foundation
import Testing

/// `cairn build`: a full-data EROFS image of an OCI image pinned by digest, pulled from
/// docker-registry through a composefs repository. Two builds in two repositories give the same
/// bytes; fsck.erofs passes; mounted, it is the tree `umoci unpack` makes (composefs's OCI rules).
@Suite(.serialized) struct BuildTests {
    @Test func reproducibleImageFromAPinnedReference() throws {
        let registry = try RegistryServer()
        let (scratch, layout, repo) = try RegistryPullTests.setUp(registry)
        let host = "127.0.0.1:\(registry.port)"
        let digest = try #require(try RegistryPullTests.pull(["--repo", repo, "docker://\(host)/test/os:v2", "v2"]).1["manifestDigest"] as? String)

        let byTag = try cairn("build", "--repo", repo, "--tls-verify=false", "--from", "docker://\(host)/test/os:v2", "--out", scratch.file("tag.ero"))
        #expect(!byTag.succeeded && byTag.stderr.contains("pin it by digest"), "\(byTag.stderr)")
        let second = scratch.file("second-repo")
        #expect(try cairn("repo", "init", "--insecure", "--repo", second).succeeded)
        for (repository, image) in [(repo, "first.ero"), (second, "second.ero")] {
            let built = try cairn("build", "--repo", repository, "--tls-verify=false", "--from", "docker://\(host)/test/os@\(digest)", "--out", scratch.file(image))
            #expect(built.succeeded && built.stdout.contains(digest), "\(built.stdout) \(built.stderr)")
        }
        #expect(try scratch.read("first.ero") == scratch.read("second.ero"))

        // By a multi-platform index's digest, the platform must be named: the machine's own
        // would make the build depend on where it runs.
        #expect(try run("/usr/bin/env", ["python3", OCIPullTests.imageScript, "index", layout]).succeeded)
        try registry.push("oci:\(layout):multi", as: "test/os:multi", all: true)
        let indexDigest = "sha256:" + (try run("/usr/bin/env", ["sh", "-c", "skopeo inspect --raw --tls-verify=false docker://\(host)/test/os:multi | sha256sum"]).stdout.prefix(64))
        let unnamed = try cairn("build", "--repo", repo, "--tls-verify=false", "--from", "docker://\(host)/test/os@\(indexDigest)", "--out", scratch.file("index.ero"))
        #expect(!unnamed.succeeded && unnamed.stderr.contains("multi-platform index"), "\(unnamed.stderr)")
        let named = try cairn("build", "--repo", repo, "--tls-verify=false", "--platform", "linux/amd64", "--from", "docker://\(host)/test/os@\(indexDigest)", "--out", scratch.file("index.ero"))
        #expect(named.succeeded && named.stdout.contains(digest), "\(named.stdout) \(named.stderr)")
        #expect(try scratch.read("index.ero") == scratch.read("first.ero"))
        let fsck = try run("/usr/bin/env", ["fsck.erofs", "--extract", scratch.file("first.ero")])
        #expect(fsck.succeeded && !fsck.stderr.contains("<E>"), "\(fsck.stdout) \(fsck.stderr)")

        let unpacked = scratch.file("unpacked")
        #expect(try run("/usr/bin/env", ["umoci", "unpack", "--image", "\(layout):v2", unpacked]).succeeded)
        #expect(try run("/usr/bin/env", ["python3", OCIPullTests.imageScript, "transform", unpacked + "/rootfs"]).succeeded)
        let mount = try ErofsMount(image: scratch.file("first.ero"), at: scratch.file("mounted"))
        let compared = try withExtendedLifetime(mount) {
            try run("/usr/bin/env", ["python3", OCIPullTests.treeScript, "compare", "--hard-links", unpacked + "/rootfs", mount.path])
        }
        #expect(compared.succeeded && compared.stdout.contains("compared 352 entries, 0 differences"), "\(compared.stdout) \(compared.stderr)")
    }
}
