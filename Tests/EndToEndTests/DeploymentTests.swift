import Foundation
import Testing

/// Deployments (bootc's layout on a sysroot) of images from docker-registry on loopback: deploy
/// two versions, status along the chain origin → manifest digest → manifest → config, undeploy
/// and GC freeing exactly what only the old one used, the remaining one mounted with its own
/// /etc; a broken chain reported and repaired; a corrupt origin stopping GC; legacy .imginfo.
@Suite(.serialized) struct DeploymentTests {
    struct Setup {
        let scratch: Scratch
        let registry: RegistryServer
        let layout: String
        let host: String

        /// A sysroot with an empty repository at SYSROOT/composefs.
        func sysroot(_ name: String) throws -> String {
            let path = scratch.file(name)
            #expect(try cairn("repo", "init", "--insecure", "--repo", path + "/composefs").succeeded)
            return path
        }

        func deploy(_ sysroot: String, _ version: String, _ options: String...) throws -> [String: Any] {
            let deployed = try run(cairnPath, ["deploy", "--sysroot", sysroot, "--tls-verify=false", "--json"] + options + ["docker://\(host)/test/os:\(version)"])
            #expect(deployed.succeeded, "\(deployed.stderr)")
            return (try? JSONSerialization.jsonObject(with: Data(deployed.stdout.utf8)) as? [String: Any]) ?? [:]
        }
    }

    static func setUp() throws -> Setup {
        let (scratch, layout, _) = try BootImageTests.setUp()
        let registry = try RegistryServer()
        try registry.push("oci:\(layout):boot", as: "test/os:v1")
        try registry.push("oci:\(layout):boot-v2", as: "test/os:v2")
        return Setup(scratch: scratch, registry: registry, layout: layout, host: "127.0.0.1:\(registry.port)")
    }

    static func status(_ sysroot: String, _ options: String...) throws -> (Run, [[String: Any]]) {
        let status = try run(cairnPath, ["status", "--sysroot", sysroot, "--json"] + options)
        return (status, (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]]) ?? [])
    }

    /// The registry's own digest of NAME:TAG: SHA-256 of the manifest skopeo fetches raw.
    static func registryDigest(_ setup: Setup, _ version: String) throws -> String {
        let raw = try run("/usr/bin/env", ["sh", "-c", "skopeo inspect --raw --tls-verify=false docker://\(setup.host)/test/os:\(version) | sha256sum"])
        return "sha256:" + raw.stdout.prefix(64)
    }

    static func objects(_ sysroot: String) throws -> Set<String> { try OCIPullTests.objectFiles(sysroot + "/composefs") }

    @Test func deployStatusUndeployAndCollect() throws {
        let setup = try Self.setUp()
        let sysroot = try setup.sysroot("sysroot")
        let first = try setup.deploy(sysroot, "v1")
        let second = try setup.deploy(sysroot, "v2")
        let id1 = try #require(first["id"] as? String), id2 = try #require(second["id"] as? String)
        #expect(id1 != id2 && id1.count == 128)
        #expect(first["manifestDigest"] as? String == (try Self.registryDigest(setup, "v1")))

        // The deployment directory: /etc copied with modes and labels, var, the origin.
        let directory = sysroot + "/state/deploy/" + id1
        #expect(try String(contentsOfFile: directory + "/etc/hostname", encoding: .utf8) == "bootable\n")
        let shadow = try run("/usr/bin/env", ["python3", "-c", "import os, sys; p = sys.argv[1]; print(oct(os.stat(p).st_mode & 0o7777), os.getxattr(p, 'security.selinux').decode())", directory + "/etc/shadow"])
        #expect(shadow.stdout == "0o600 system_u:object_r:shadow_t:s0\n", "\(shadow.stdout) \(shadow.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/var") == "../../os/default/var")
        let hardLinked = try run("/usr/bin/env", ["python3", "-c", "import os, sys; a, b = (os.stat(sys.argv[1] + n) for n in ('/etc/hosts', '/etc/hostname')); print(a.st_ino == b.st_ino, a.st_nlink)", directory])
        #expect(hardLinked.stdout == "True 2\n", "\(hardLinked.stdout) \(hardLinked.stderr)")
        let origin = try String(contentsOfFile: directory + "/\(id1).origin", encoding: .utf8)
        let kernelDigest = try run("/usr/bin/env", ["python3", "-c", "import hashlib; print(hashlib.sha256(b'a kernel\\n' * 20).hexdigest())"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(origin == """
            [origin]
            container-image-reference=ostree-unverified-image:docker://\(setup.host)/test/os:v1
            [boot]
            boot_type=bls
            digest=\(kernelDigest)
            [image]
            manifest_digest=\(first["manifestDigest"] as? String ?? "?")

            """, "\(origin)")
        #expect(try String(contentsOfFile: sysroot + "/state/staged", encoding: .utf8) == id2 + "\n")
        // By manifest digest (an image in the repository): the same deployment, staged again;
        // then v2 by its source, staged again.
        let again = try run(cairnPath, ["deploy", "--sysroot", sysroot, "--json", "@" + (first["manifestDigest"] as? String ?? "")])
        #expect(again.succeeded && again.stdout.contains(id1) && again.stdout.contains("\"existed\" : true"), "\(again.stdout) \(again.stderr)")
        #expect(try String(contentsOfFile: sysroot + "/state/staged", encoding: .utf8) == id1 + "\n")
        _ = try setup.deploy(sysroot, "v2")
        let computed = try cairn("oci", "compute-id", "--bootable", "--repo", sysroot + "/composefs", "@" + (first["manifestDigest"] as? String ?? ""))
        #expect(computed.stdout == id1 + "\n", "\(computed.stdout) \(computed.stderr)")

        // Status reads both back through the repository.
        let (status, list) = try Self.status(sysroot, "--booted", id1)
        #expect(status.succeeded && list.count == 2, "\(status.stdout) \(status.stderr)")
        let byID = Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as? String ?? "", $0) })
        #expect(byID[id1]?["booted"] as? Bool == true && byID[id1]?["staged"] as? Bool == false && byID[id1]?["version"] as? String == "1")
        #expect(byID[id2]?["staged"] as? Bool == true && byID[id2]?["version"] as? String == "2")
        #expect(byID[id2]?["manifestDigest"] as? String == (try Self.registryDigest(setup, "v2")))
        #expect((byID[id2]?["problems"] as? [Any])?.isEmpty == true)

        // Undeploy v1 (not while it is booted), collect: what is left is exactly what a sysroot
        // that only ever deployed v2 holds.
        let refused = try cairn("undeploy", "--sysroot", sysroot, "--booted", id1, id1)
        #expect(!refused.succeeded && refused.stderr.contains("booted"), "\(refused.stderr)")
        #expect(try cairn("undeploy", "--sysroot", sysroot, "--booted", id2, id1).succeeded)
        let objectsBefore = try Self.objects(sysroot)
        let dryRun = try cairn("repo", "gc", "--repo", sysroot + "/composefs", "--dry-run", "--json")
        #expect(dryRun.succeeded && dryRun.stdout.contains("localhost/cairn-\(first["manifestDigest"] as? String ?? "?")"), "\(dryRun.stdout) \(dryRun.stderr)")
        #expect(try Self.objects(sysroot) == objectsBefore)
        let collected = try cairn("repo", "gc", "--repo", sysroot + "/composefs")
        #expect(collected.succeeded && collected.stdout.contains("localhost/cairn-\(first["manifestDigest"] as? String ?? "?")"), "\(collected.stdout) \(collected.stderr)")
        let only = try setup.sysroot("only-v2")
        _ = try setup.deploy(only, "v2")
        #expect(try Self.objects(sysroot) == (try Self.objects(only)))
        #expect(try cairn("repo", "fsck", "--repo", sysroot + "/composefs").succeeded)

        // The remaining deployment mounts: every file of the image is there (but /boot and
        // /sysroot, emptied, and /etc, the deployment's own and writable).
        let target = setup.scratch.file("deployed")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let unpacked = setup.scratch.file("unpacked-v2")
        #expect(try run("/usr/bin/env", ["umoci", "unpack", "--image", "\(setup.layout):boot-v2", unpacked]).succeeded)
        let mounted = try cairn("mount-deployment", "--sysroot", sysroot, id2, target)
        #expect(mounted.succeeded, "\(mounted.stderr)")
        defer {
            _ = try? run("/usr/bin/env", ["umount", target + "/etc"])
            _ = try? run("/usr/bin/env", ["umount", target])
        }
        let compared = try run("/usr/bin/env", ["python3", "-c", """
            import os, sys
            image, mounted = sys.argv[1], sys.argv[2]
            count = 0
            for directory, _, files in os.walk(image):
                relative = os.path.relpath(directory, image)
                if relative.split("/")[0] in ("boot", "sysroot", "run"):
                    continue
                for name in files:
                    a, b = os.path.join(directory, name), os.path.join(mounted, relative, name)
                    if os.path.islink(a):
                        assert os.readlink(a) == os.readlink(b), b
                    elif os.path.isfile(a):
                        assert open(a, "rb").read() == open(b, "rb").read(), b
                        assert os.stat(a).st_mode == os.stat(b).st_mode, b
                    count += 1
            open(os.path.join(mounted, "etc/added"), "w").write("written through the mount")
            print(count, sorted(os.listdir(os.path.join(mounted, "boot"))))
            """, unpacked + "/rootfs", target])
        #expect(compared.succeeded && compared.stdout == "24 []\n", "\(compared.stdout) \(compared.stderr)")
        #expect(try String(contentsOfFile: sysroot + "/state/deploy/\(id2)/etc/added", encoding: .utf8) == "written through the mount")
    }

    @Test func brokenChainsCorruptOriginsAndLegacyDeployments() throws {
        let setup = try Self.setUp()
        let sysroot = try setup.sysroot("sysroot")
        let repo = sysroot + "/composefs"
        let first = try setup.deploy(sysroot, "v1"), second = try setup.deploy(sysroot, "v2")
        let id1 = try #require(first["id"] as? String), id2 = try #require(second["id"] as? String)
        let digest1 = try #require(first["manifestDigest"] as? String)

        // A missing manifest stream (bootc#2422): status names it for that deployment, still
        // reports the other, and --repair pulls it again by digest.
        try FileManager.default.removeItem(atPath: repo + "/streams/oci-manifest-" + digest1)
        let (broken, list) = try Self.status(sysroot)
        #expect(!broken.succeeded && list.count == 2)
        let problems = list.first { $0["id"] as? String == id1 }?["problems"] as? [String] ?? []
        #expect(problems.contains { $0.contains("oci-manifest-" + digest1) }, "\(problems)")
        #expect(list.first { $0["id"] as? String == id2 }?["version"] as? String == "2")
        let repaired = try run(cairnPath, ["deploy", "--sysroot", sysroot, "--tls-verify=false", "--repair", id1])
        #expect(repaired.succeeded && repaired.stdout.contains(id1), "\(repaired.stdout) \(repaired.stderr)")
        #expect(try Self.status(sysroot).0.succeeded)

        // An interrupted deploy is reported, and removed by GC.
        try FileManager.default.createDirectory(atPath: sysroot + "/state/deploy/.staging-" + id2, withIntermediateDirectories: true)
        #expect(try cairn("status", "--sysroot", sysroot).stdout.contains("interrupted"))

        // A corrupt origin stops GC before anything is deleted or untagged.
        #expect(try cairn("oci", "tag", "--repo", repo, "@" + digest1, "kept-by-hand").succeeded)
        let objectsBefore = try Self.objects(sysroot)
        let tagsBefore = try cairn("oci", "images", "--repo", repo).stdout
        let origin2 = sysroot + "/state/deploy/\(id2)/\(id2).origin"
        let good = try String(contentsOfFile: origin2, encoding: .utf8)
        try "this is not an origin file\n".write(toFile: origin2, atomically: true, encoding: .utf8)
        let stopped = try cairn("repo", "gc", "--repo", repo)
        #expect(!stopped.succeeded && stopped.stderr.contains(id2) && stopped.stderr.contains("stopped"), "\(stopped.stderr)")
        #expect(try Self.objects(sysroot) == objectsBefore)
        #expect(try cairn("oci", "images", "--repo", repo).stdout == tagsBefore)
        #expect(FileManager.default.fileExists(atPath: sysroot + "/state/deploy/.staging-" + id2))
        try good.write(toFile: origin2, atomically: true, encoding: .utf8)

        // A legacy deployment: an origin without manifest_digest and an .imginfo sidecar.
        let inspected = try cairn("oci", "inspect", "--repo", repo, "@" + digest1)
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        let imginfo = try JSONSerialization.data(withJSONObject: ["manifest": documents["manifest"]!, "config": documents["config"]!])
        try imginfo.write(to: URL(fileURLWithPath: sysroot + "/state/deploy/\(id1)/\(id1).imginfo"))
        try "[origin]\ncontainer-image-reference=ostree-unverified-image:docker://\(setup.host)/test/os:v1\n".write(
            toFile: sysroot + "/state/deploy/\(id1)/\(id1).origin", atomically: true, encoding: .utf8)
        let (legacy, legacyList) = try Self.status(sysroot)
        let old = legacyList.first { $0["id"] as? String == id1 }
        #expect(legacy.succeeded && old?["recordedIn"] as? String == "imginfo" && old?["version"] as? String == "1", "\(legacy.stdout) \(legacy.stderr)")
        #expect(old?["configDigest"] as? String == ((documents["manifest"] as? [String: Any])?["config"] as? [String: Any])?["digest"] as? String)

        // GC keeps the legacy deployment (its boot image, and the tag of the image it is the
        // boot variant of, as bootc does), leaves other tags alone, clears the interrupted deploy.
        let collected = try cairn("repo", "gc", "--repo", repo)
        #expect(collected.succeeded, "\(collected.stderr)")
        let tags = try cairn("oci", "images", "--repo", repo).stdout
        #expect(tags.contains("localhost/cairn-" + digest1) && tags.contains("kept-by-hand"), "\(tags)")
        #expect(!FileManager.default.fileExists(atPath: sysroot + "/state/deploy/.staging-" + id2))
        let target = setup.scratch.file("legacy-mount")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let mounted = try cairn("mount-deployment", "--sysroot", sysroot, id1, target)
        #expect(mounted.succeeded, "\(mounted.stderr)")
        defer {
            _ = try? run("/usr/bin/env", ["umount", target + "/etc"])
            _ = try? run("/usr/bin/env", ["umount", target])
        }
        let read = try run("/usr/bin/env", ["cat", target + "/usr/bin/bash", target + "/etc/hostname"])
        #expect(read.succeeded && read.stdout.hasSuffix("bootable\n"), "\(read.stdout) \(read.stderr)")
    }

    /// An image whose /etc is a symlink is not deployed (its /etc copy and the bind mount over
    /// it would go wherever the link points); nothing is left behind.
    @Test func imageWithSymlinkedEtcIsRefused() throws {
        let (scratch, layout, _) = try BootImageTests.setUp()
        defer { withExtendedLifetime(scratch) {} }
        let sysroot = scratch.file("sysroot")
        #expect(try cairn("repo", "init", "--insecure", "--repo", sysroot + "/composefs").succeeded)
        let refused = try cairn("deploy", "--sysroot", sysroot, "oci:\(layout):boot-etclink")
        #expect(!refused.succeeded && refused.stderr.contains("/etc is not a directory"), "\(refused.stderr)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: sysroot + "/state/deploy")) ?? []
        #expect(left.filter { $0 != ".lock" }.isEmpty, "\(left)")
        #expect(!FileManager.default.fileExists(atPath: sysroot + "/state/staged"))
    }
}
