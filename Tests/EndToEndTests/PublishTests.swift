import CairnCasync
import Foundation
import Testing

/// `cairn publish`: seed 000's producer flow against a local-directory bucket, moto and nginx.
@Suite struct PublishTests {
    /// A CI checkout: an EROFS image in mkosi.output, built from files that version `version` changes.
    static func checkout(_ scratch: Scratch, version: Int) throws {
        let tree = scratch.file("tree")
        try? FileManager.default.removeItem(atPath: tree)
        try FileManager.default.createDirectory(atPath: tree + "/usr/lib", withIntermediateDirectories: true)
        for n in 0..<30 {
            // Version 2 rewrites a few files and adds one; the rest stays the same.
            let seed = UInt64(200 + n) + (version > 1 && n % 10 == 0 ? 1000 : 0)
            try Data(randomBytes(40_000 + 3000 * n, seed: seed)).write(to: URL(fileURLWithPath: "\(tree)/usr/lib/lib\(n).so"))
        }
        if version > 1 { try Data(randomBytes(300_000, seed: 299)).write(to: URL(fileURLWithPath: "\(tree)/usr/lib/new.so")) }
        try FileManager.default.createDirectory(atPath: scratch.file("mkosi.output"), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: scratch.file("mkosi.output/live-pocket-fedora.ero"))
        let mkfs = try run("mkfs.erofs", ["--quiet", "-T0", "--all-root", "-U", "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                                          scratch.file("mkosi.output/live-pocket-fedora.ero"), tree])
        #expect(mkfs.succeeded, "\(mkfs.stderr)")
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    /// Publish twice to a local bucket in the seed's layout; casync reads what cairn published.
    @Test func publishTwoVersionsToALocalBucket() throws {
        let scratch = try Scratch()
        try Self.checkout(scratch, version: 1)
        let p = scratch.file("bucket/live-pocket-fedora")
        func publish(number: String, _ extra: [String] = []) throws -> Run {
            try run(cairnPath, ["publish", "--bucket", scratch.file("bucket"), "--prefix", "live-pocket-fedora", "--run", number, "--attempt", "1", "--sha", "abc123",
                                        "--ref", "feature/x", "--input", "kernel=6.8.0", "--chunk-size", "16384:65536:262144"] + extra, in: scratch.path,
                            environment: ["GITHUB_OUTPUT": scratch.file("github-output"), "GITHUB_STEP_SUMMARY": scratch.file("summary.md")])
        }
        try scratch.write("inputs.lock", Array("# recorded by the build\nbase=quay.io/fedora/fedora-bootc@sha256:abcd\nkernel=6.7.0\n".utf8))
        let first = try publish(number: "100", ["--inputs", scratch.file("inputs.lock")])
        #expect(first.succeeded, "\(first.stderr)")
        for key in ["casync/indexes/compose-100-1-abc123.caibx", "casync/manifests/100-1-abc123.json",
                    "casync/refs/feature-x/latest.json", "images/100-1-abc123.ero"] {
            #expect(FileManager.default.fileExists(atPath: p + "/" + key), "\(key) is missing")
        }
        #expect(try scratch.read("bucket/live-pocket-fedora/images/100-1-abc123.ero") == scratch.read("mkosi.output/live-pocket-fedora.ero"))
        // casync extracts the published index from the published chunks.
        let extracted = try casync("extract", "--store=\(p)/casync/chunks", "\(p)/casync/indexes/compose-100-1-abc123.caibx", scratch.file("casync.ero"))
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("casync.ero") == scratch.read("mkosi.output/live-pocket-fedora.ero"))
        for artifact in ["compose-manifest.json", "compose-100-1-abc123.caibx", "dedupe-stats.json", "live-pocket-fedora.ero.sha256", "live-pocket-fedora.ero.digest"] {
            #expect(scratch.exists("mkosi.output/compose/" + artifact), "\(artifact) is missing")
        }
        #expect(try String(decoding: scratch.read("mkosi.output/compose/live-pocket-fedora.ero.sha256"), as: UTF8.self)
            == sha256sum(scratch.file("mkosi.output/live-pocket-fedora.ero")) + "  live-pocket-fedora.ero\n")
        #expect(try String(decoding: scratch.read("mkosi.output/compose/live-pocket-fedora.ero.digest"), as: UTF8.self)
            == casync("digest", scratch.file("mkosi.output/live-pocket-fedora.ero")).stdout)
        let manifest = try Self.json("\(p)/casync/manifests/100-1-abc123.json")
        // --input wins over the file.
        #expect((manifest["inputs"] as? [String: String]) == ["kernel": "6.8.0", "base": "quay.io/fedora/fedora-bootc@sha256:abcd"])
        #expect((manifest["index"] as? [String: Any])?["chunk_size"] as? String == "16384:65536:262144")
        #expect(manifest["parent"] == nil)

        // The second version uploads only its new chunks and records its lineage.
        try Self.checkout(scratch, version: 2)
        let second = try publish(number: "101", ["--json"])
        #expect(second.succeeded, "\(second.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any] ?? [:]
        let dedupe = (report["manifest"] as? [String: Any])?["dedupe"] as? [String: Any] ?? [:]
        #expect((dedupe["reusedBytes"] as? Int ?? 0) > 0 && (dedupe["newBytes"] as? Int ?? 0) > 0, "\(dedupe)")
        #expect(report["uploadedChunks"] as? Int == dedupe["newChunks"] as? Int)
        let latest = try Self.json("\(p)/casync/refs/feature-x/latest.json")
        #expect(latest["build"] as? String == "101-1-abc123" && latest["previous"] as? String == "100-1-abc123")
        #expect((latest["history"] as? [[String: Any]])?.compactMap { $0["build"] as? String } == ["101-1-abc123", "100-1-abc123"])
        #expect(try Self.json("\(p)/casync/manifests/101-1-abc123.json")["parent"] as? String == "100-1-abc123")

        let outputs = try String(decoding: scratch.read("github-output"), as: UTF8.self)
        #expect(outputs.contains("build_id=101-1-abc123\n") && outputs.contains("published=true\n") && outputs.contains("new_bytes="))
        #expect(try String(decoding: scratch.read("summary.md"), as: UTF8.self).contains("| reused |"))
    }

    /// The same build again changes nothing; another image under the same build is refused and
    /// leaves the ref alone.
    @Test func republishingIsIdempotentAndConflictsAreRefused() throws {
        let scratch = try Scratch()
        try Self.checkout(scratch, version: 1)
        let arguments = ["publish", "--bucket", scratch.file("bucket"), "--run", "7", "--sha", "f00d", "--ref", "main", "--json"]
        #expect(try run(cairnPath, arguments, in: scratch.path).succeeded)
        let latest = try scratch.read("bucket/casync/refs/main/latest.json")
        let again = try run(cairnPath, arguments, in: scratch.path)
        #expect(again.succeeded, "\(again.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["uploadedChunks"] as? Int == 0 && report["refMoved"] as? Bool == false)
        #expect(try scratch.read("bucket/casync/refs/main/latest.json") == latest)

        // An older run published after a newer one leaves the ref on the newer one.
        #expect(try run(cairnPath, ["publish", "--bucket", scratch.file("bucket"), "--run", "9", "--sha", "f00d", "--ref", "main"], in: scratch.path).succeeded)
        let late = try run(cairnPath, ["publish", "--bucket", scratch.file("bucket"), "--run", "8", "--sha", "f00d", "--ref", "main"], in: scratch.path)
        #expect(late.succeeded && late.stdout.contains("names the newer build 9-1-f00d"), "\(late.stdout)\(late.stderr)")
        #expect(try String(decoding: scratch.read("bucket/casync/refs/main/latest.json"), as: UTF8.self).contains("\"build\" : \"9-1-f00d\",\n  \"history\""))

        try Self.checkout(scratch, version: 2)
        let conflict = try run(cairnPath, arguments, in: scratch.path)
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("compose-7-1-f00d.caibx") && conflict.stderr.contains("already exists"), "\(conflict.stderr)")
        #expect(try String(decoding: scratch.read("bucket/casync/refs/main/latest.json"), as: UTF8.self).contains("\"build\" : \"9-1-f00d\",\n  \"history\""))
    }

    /// The seed's environment: R2_* names the bucket and credentials, GITHUB_* the build; without
    /// secrets or with COMPOSE_ENABLE_PUBLISH=0 it is a dry run that still checks and writes artifacts.
    @Test func environmentMatrixAgainstS3() throws {
        let scratch = try Scratch()
        try Self.checkout(scratch, version: 1)
        let moto = try MotoServer()
        let ci = [
            "GITHUB_RUN_ID": "555", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SHA": "0123abcd", "GITHUB_REF_NAME": "42/merge",
            "COMPOSE_PREFIX": "live-pocket-fedora", "R2_BUCKET": MotoServer.bucket, "R2_ENDPOINT_URL": "http://\(moto.endpoint)",
        ]
        let noSecrets = ["/usr/bin/env", "-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "-u", "R2_ACCESS_KEY_ID", "-u", "R2_SECRET_ACCESS_KEY"]

        let fork = try run(noSecrets[0], Array(noSecrets.dropFirst()) + [cairnPath, "publish"], in: scratch.path, environment: ci)
        #expect(fork.succeeded, "\(fork.stderr)")
        #expect(fork.stderr.contains("dry run: no credentials") && fork.stdout.contains("dry run"), "\(fork.stderr)")
        #expect(scratch.exists("mkosi.output/compose/compose-555-2-0123abcd.caibx"))
        let dryManifest = try Self.json(scratch.file("mkosi.output/compose/compose-manifest.json"))
        #expect((dryManifest["index"] as? [String: Any])?["chunk_size"] as? String == "262144:1048576:4194304")
        #expect((dryManifest["build"] as? [String: Any])?["id"] as? String == "555-2-0123abcd")

        var disabled = ci.merging(moto.environment) { $1 }
        disabled["COMPOSE_ENABLE_PUBLISH"] = "0"
        let off = try run(cairnPath, ["publish"], in: scratch.path, environment: disabled)
        #expect(off.succeeded && off.stderr.contains("COMPOSE_ENABLE_PUBLISH=0"), "\(off.stderr)")

        // Publishing with R2_* credentials; the last smoke extraction goes through a public base URL.
        try FileManager.default.createDirectory(atPath: scratch.file("empty"), withIntermediateDirectories: true)
        let publicURL = try NginxServer(root: scratch.file("empty"), extraConfig: """
            location / {
                proxy_pass http://\(moto.endpoint)/\(MotoServer.bucket)/;
                proxy_set_header Authorization "AWS4-HMAC-SHA256 Credential=public/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
            }
            """)
        var r2 = ci
        r2["R2_ACCESS_KEY_ID"] = "cairn-test"
        r2["R2_SECRET_ACCESS_KEY"] = "cairn-secret"
        r2["COMPOSE_PUBLIC_BASE_URL"] = publicURL.url
        let published = try run("/usr/bin/env", ["-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", cairnPath, "publish"], in: scratch.path, environment: r2)
        #expect(published.succeeded, "\(published.stderr)")
        #expect(published.stderr.contains("smoke extraction from \(publicURL.url)"), "\(published.stderr)")
        let latest = try run("curl", ["-s", publicURL.url + "/live-pocket-fedora/casync/refs/42-merge/latest.json"]).stdout
        #expect(latest.contains("\"build\" : \"555-2-0123abcd\""), "\(latest)")
        let image = try run("curl", ["-s", "-o", scratch.file("downloaded.ero"), publicURL.url + "/live-pocket-fedora/images/555-2-0123abcd.ero"])
        #expect(image.succeeded)
        #expect(try scratch.read("downloaded.ero") == scratch.read("mkosi.output/live-pocket-fedora.ero"))
    }

    /// Two publishers race on one ref: both builds land, and the ref ends on the newer run whichever
    /// finishes first (an older run that loses the race does not take the ref back).
    @Test func concurrentPublishersLoseNoUpdate() throws {
        let scratch = try Scratch()
        try Self.checkout(scratch, version: 1)
        let moto = try MotoServer()
        // Two processes at once, each with its own cache and artifacts.
        let publishers = try (1...2).map { number in
            try Started(cairnPath, ["publish", "--bucket", moto.store("race"), "--run", "\(number)", "--sha", "beef", "--ref", "main",
                                    "--out", scratch.file("out\(number)"), "--cache", scratch.file("cache\(number)")],
                        in: scratch.path, environment: moto.environment)
        }
        let runs = try publishers.map { try $0.wait() }
        #expect(runs.count == 2 && runs.allSatisfy(\.succeeded), "\(runs.map(\.stderr))")
        let latest = try run("curl", ["-s", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
                                      "http://\(moto.endpoint)/\(MotoServer.bucket)/race/casync/refs/main/latest.json"]).stdout
        #expect(latest.contains("\"build\" : \"2-1-beef\",\n  \"history\""), "\(latest)")
        for build in ["1-1-beef", "2-1-beef"] {
            let manifest = try run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
                                            "http://\(moto.endpoint)/\(MotoServer.bucket)/race/casync/manifests/\(build).json"]).stdout
            #expect(manifest == "200", "\(build)")
        }
    }

    /// The consumer: pull the ref's build over a public base URL, seeded from the image the
    /// device runs; roll back with --build; a tampered index is refused and nothing is written.
    @Test func pullWithSeedRollbackAndTampering() throws {
        let scratch = try Scratch()
        let publish = ["publish", "--bucket", scratch.file("bucket"), "--prefix", "os", "--sha", "c0ffee", "--ref", "main", "--chunk-size", "16K:64K:256K"]
        try Self.checkout(scratch, version: 1)
        #expect(try run(cairnPath, publish + ["--run", "1"], in: scratch.path).succeeded)
        try FileManager.default.copyItem(atPath: scratch.file("mkosi.output/live-pocket-fedora.ero"), toPath: scratch.file("running.ero"))
        try Self.checkout(scratch, version: 2)
        #expect(try run(cairnPath, publish + ["--run", "2"], in: scratch.path).succeeded)
        let server = try NginxServer(root: scratch.file("bucket"))

        let pulled = try cairn("pull", "--json", "--from", server.url, "--prefix", "os", "--ref", "main", "--seed", scratch.file("running.ero"), scratch.file("next.ero"))
        #expect(pulled.succeeded, "\(pulled.stderr)")
        #expect(try scratch.read("next.ero") == scratch.read("mkosi.output/live-pocket-fedora.ero"))
        let report = try JSONSerialization.jsonObject(with: Data(pulled.stdout.utf8)) as? [String: Any] ?? [:]
        let extract = report["extract"] as? [String: Any] ?? [:]
        #expect(report["build"] as? String == "2-1-c0ffee")
        #expect((extract["bytesFromSeed"] as? Int ?? 0) > (extract["bytesFromStore"] as? Int ?? 0), "\(extract)")

        let unseeded = try cairn("pull", "--json", "--from", server.url, "--prefix", "os", "--ref", "main", scratch.file("fresh.ero"))
        #expect(unseeded.succeeded, "\(unseeded.stderr)")
        #expect(try scratch.read("fresh.ero") == scratch.read("next.ero"))

        let rollback = try cairn("pull", "--from", scratch.file("bucket"), "--prefix", "os", "--build", "1-1-c0ffee", "--seed", scratch.file("next.ero"), scratch.file("old.ero"))
        #expect(rollback.succeeded, "\(rollback.stderr)")
        #expect(try scratch.read("old.ero") == scratch.read("running.ero"))

        // The pull kept old.ero's index beside it, so pulling over old.ero seeds from it without
        // --seed and without chunking; a seed byte that no longer matches that index is fetched.
        let kept = try BlobIndex(decoding: scratch.read("old.ero.caibx"))
        let next = try BlobIndex(decoding: scratch.read("bucket/os/casync/indexes/compose-2-1-c0ffee.caibx"))
        let shared = try #require(kept.chunks.first { chunk in next.chunks.contains { $0.id == chunk.id } })
        let handle = try #require(FileHandle(forUpdatingAtPath: scratch.file("old.ero")))
        try handle.seek(toOffset: shared.start)
        try handle.write(contentsOf: [~(try scratch.read("old.ero")[Int(shared.start)])])
        try handle.close()
        let update = try cairn("pull", "--json", "--from", server.url, "--prefix", "os", "--ref", "main", scratch.file("old.ero"))
        #expect(update.succeeded, "\(update.stderr)")
        #expect(try scratch.read("old.ero") == scratch.read("next.ero"))
        let updated = (try JSONSerialization.jsonObject(with: Data(update.stdout.utf8)) as? [String: Any])?["extract"] as? [String: Any] ?? [:]
        #expect((updated["bytesFromSeed"] as? Int ?? 0) > (updated["bytesFromStore"] as? Int ?? 0), "\(updated)")
        #expect(updated["invalidSeedChunks"] as? Int == 1, "\(updated)")
        #expect(try scratch.read("old.ero.caibx") == scratch.read("bucket/os/casync/indexes/compose-2-1-c0ffee.caibx"))

        // An index that no longer matches its manifest is refused before anything is written.
        let indexPath = scratch.file("bucket/os/casync/indexes/compose-2-1-c0ffee.caibx")
        var index = try [UInt8](Data(contentsOf: URL(fileURLWithPath: indexPath)))
        index[index.count - 50] ^= 1
        try FileManager.default.removeItem(atPath: indexPath)
        try Data(index).write(to: URL(fileURLWithPath: indexPath))
        let tampered = try cairn("pull", "--from", server.url, "--prefix", "os", "--ref", "main", scratch.file("bad.ero"))
        #expect(tampered.status == 1 && tampered.stderr.contains("compose-2-1-c0ffee.caibx") && tampered.stderr.contains("SHA-256"), "\(tampered.stderr)")
        #expect(!scratch.exists("bad.ero"))
        let missing = try cairn("pull", "--from", server.url, "--prefix", "os", "--ref", "nope", scratch.file("bad.ero"))
        #expect(missing.status == 1 && missing.stderr.contains("os/casync/refs/nope/latest.json"), "\(missing.stderr)")
    }

    /// The seed's recovery step as commands: read a ref's lineage, move it back to a known-good
    /// build, and refuse a build that lacks parts.
    @Test func refsLogAndSet() throws {
        let scratch = try Scratch()
        let publish = ["publish", "--bucket", scratch.file("bucket"), "--sha", "d00d", "--ref", "main", "--chunk-size", "16K:64K:256K"]
        try Self.checkout(scratch, version: 1)
        #expect(try run(cairnPath, publish + ["--run", "1"], in: scratch.path).succeeded)
        try FileManager.default.copyItem(atPath: scratch.file("mkosi.output/live-pocket-fedora.ero"), toPath: scratch.file("v1.ero"))
        try Self.checkout(scratch, version: 2)
        #expect(try run(cairnPath, publish + ["--run", "2"], in: scratch.path).succeeded)

        let log = try cairn("refs", "log", "--bucket", scratch.file("bucket"), "main")
        #expect(log.succeeded && log.stdout.split(separator: "\n").map { $0.prefix(9) } == ["2-1-d00d ", "1-1-d00d "], "\(log.stdout)\(log.stderr)")

        let back = try cairn("refs", "set", "--bucket", scratch.file("bucket"), "main", "1-1-d00d")
        #expect(back.succeeded && back.stdout.contains("main now names 1-1-d00d (was 2-1-d00d)"), "\(back.stdout)\(back.stderr)")
        #expect(try cairn("refs", "log", "--bucket", scratch.file("bucket"), "main").stdout.hasPrefix("1-1-d00d"))
        #expect(try cairn("pull", "--from", scratch.file("bucket"), "--ref", "main", scratch.file("pulled.ero")).succeeded)
        #expect(try scratch.read("pulled.ero") == scratch.read("v1.ero"))

        // Build 2 loses a chunk only it has: moving the ref back to it is refused.
        let index1 = Set(try cairn("list-chunks", scratch.file("bucket/casync/indexes/compose-1-1-d00d.caibx")).stdout.split(separator: "\n"))
        let onlyIn2 = try cairn("list-chunks", scratch.file("bucket/casync/indexes/compose-2-1-d00d.caibx")).stdout.split(separator: "\n").first { !index1.contains($0) }!
        try FileManager.default.removeItem(atPath: scratch.file("bucket/casync/chunks/\(onlyIn2.prefix(4))/\(onlyIn2).cacnk"))
        let latest = try scratch.read("bucket/casync/refs/main/latest.json")
        let refused = try cairn("refs", "set", "--bucket", scratch.file("bucket"), "main", "2-1-d00d")
        #expect(refused.status == 1 && refused.stderr.contains("not complete") && refused.stderr.contains(String(onlyIn2)), "\(refused.stderr)")
        #expect(try scratch.read("bucket/casync/refs/main/latest.json") == latest)
        let unknown = try cairn("refs", "set", "--bucket", scratch.file("bucket"), "main", "9-9-nope")
        #expect(unknown.status == 1 && unknown.stderr.contains("casync/manifests/9-9-nope.json is missing"), "\(unknown.stderr)")
    }

    /// bucket verify finds what is missing or damaged; repair puts chunks back from the cache or
    /// by cutting them again from an image, and uploads a lost image.
    @Test func bucketVerifyAndRepair() throws {
        let scratch = try Scratch()
        let bucket = scratch.file("bucket")
        let publish = ["publish", "--bucket", bucket, "--sha", "aaaa", "--chunk-size", "16K:64K:256K"]
        try Self.checkout(scratch, version: 1)
        #expect(try run(cairnPath, publish + ["--run", "1", "--ref", "main"], in: scratch.path).succeeded)
        try FileManager.default.copyItem(atPath: scratch.file("mkosi.output/live-pocket-fedora.ero"), toPath: scratch.file("v1.ero"))
        try Self.checkout(scratch, version: 2)
        #expect(try run(cairnPath, publish + ["--run", "2", "--ref", "dev"], in: scratch.path).succeeded)
        let clean = try cairn("bucket", "verify", "--bucket", bucket)
        #expect(clean.succeeded && clean.stdout.contains("dev → 2-1-aaaa: complete") && clean.stdout.contains("main → 1-1-aaaa: complete"), "\(clean.stdout)\(clean.stderr)")

        let devChunks = try cairn("list-chunks", scratch.file("bucket/casync/indexes/compose-2-1-aaaa.caibx")).stdout.split(separator: "\n")
        func chunkPath(_ id: Substring) -> String { scratch.file("bucket/casync/chunks/\(id.prefix(4))/\(id).cacnk") }
        for id in devChunks.prefix(3) { try? FileManager.default.removeItem(atPath: chunkPath(id)) }
        try FileManager.default.removeItem(atPath: scratch.file("bucket/images/1-1-aaaa.ero"))
        let broken = try cairn("bucket", "verify", "--bucket", bucket)
        #expect(broken.status == 1 && broken.stdout.contains("chunks are missing") && broken.stdout.contains("images/1-1-aaaa.ero is missing"), "\(broken.stdout)")

        let repaired = try run(cairnPath, ["repair", "--json", "--bucket", bucket, "--image", scratch.file("v1.ero")], in: scratch.path)
        #expect(repaired.succeeded, "\(repaired.stdout)\(repaired.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(repaired.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((report["fromCache"] as? Int ?? 0) >= 1 && (report["imagesUploaded"] as? [String]) == ["images/1-1-aaaa.ero"], "\(report)")
        #expect(try cairn("bucket", "verify", "--bucket", bucket).succeeded)

        // Without the cache, chunks are cut again from the image.
        for id in devChunks.prefix(2) { try? FileManager.default.removeItem(atPath: chunkPath(id)) }
        let fromImage = try cairn("repair", "--json", "--bucket", bucket, "--cache", scratch.file("no-cache"), "--image", scratch.file("mkosi.output/live-pocket-fedora.ero"), "dev")
        #expect(fromImage.succeeded, "\(fromImage.stdout)\(fromImage.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(fromImage.stdout.utf8)) as? [String: Any])?["fromImages"] as? Int ?? 0 >= 1)

        // A damaged chunk passes the shallow check and fails the deep one, named.
        let victim = chunkPath(devChunks[0])
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0x40
        try FileManager.default.removeItem(atPath: victim)
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        #expect(try cairn("bucket", "verify", "--bucket", bucket, "dev").succeeded)
        let deep = try cairn("bucket", "verify", "--deep", "--bucket", bucket, "dev")
        #expect(deep.status == 1 && deep.stdout.contains(String(devChunks[0])) && deep.stdout.contains("corrupt"), "\(deep.stdout)\(deep.stderr)")
        // repair --deep removes the damaged copy and puts a good one back from the cache.
        let fixed = try run(cairnPath, ["repair", "--deep", "--json", "--bucket", bucket, "dev"], in: scratch.path)
        #expect(fixed.succeeded, "\(fixed.stdout)\(fixed.stderr)")
        let fixReport = try JSONSerialization.jsonObject(with: Data(fixed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(fixReport["corruptRemoved"] as? Int == 1 && fixReport["fromCache"] as? Int == 1, "\(fixReport)")
        #expect(try cairn("bucket", "verify", "--deep", "--bucket", bucket).succeeded)
    }

    /// bucket gc keeps each ref's last N builds with everything they reach, spares young objects,
    /// is a dry run unless --yes, and stops before removing anything when a kept index is damaged.
    @Test func bucketGCKeepsWhatRefsReach() throws {
        let scratch = try Scratch()
        let bucket = scratch.file("bucket")
        let publish = ["publish", "--bucket", bucket, "--sha", "bbbb", "--ref", "main", "--chunk-size", "16K:64K:256K"]
        try Self.checkout(scratch, version: 1)
        #expect(try run(cairnPath, publish + ["--run", "1"], in: scratch.path).succeeded)
        try Self.checkout(scratch, version: 2)
        #expect(try run(cairnPath, publish + ["--run", "2"], in: scratch.path).succeeded)
        #expect(try run(cairnPath, publish + ["--run", "3"], in: scratch.path).succeeded)
        let before = scratch.chunkFiles("bucket/casync/chunks").count

        let young = try cairn("bucket", "gc", "--json", "--bucket", bucket, "--keep", "2", "--yes")
        let spared = try JSONSerialization.jsonObject(with: Data(young.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(young.succeeded && (spared["removedObjects"] as? [String])?.isEmpty == true && spared["youngObjects"] as? Int == 3, "\(young.stdout)\(young.stderr)")

        let dry = try cairn("bucket", "gc", "--bucket", bucket, "--keep", "2", "--grace", "0")
        #expect(dry.succeeded && dry.stdout.contains("would remove 3 build objects") && dry.stdout.contains("dry run"), "\(dry.stdout)\(dry.stderr)")
        #expect(scratch.chunkFiles("bucket/casync/chunks").count == before)

        // A damaged kept index stops GC before anything is removed.
        let index3 = scratch.file("bucket/casync/indexes/compose-3-1-bbbb.caibx")
        let good = try scratch.read("bucket/casync/indexes/compose-3-1-bbbb.caibx")
        try FileManager.default.removeItem(atPath: index3)
        try Data(good.dropLast(7)).write(to: URL(fileURLWithPath: index3))
        let unsafe = try cairn("bucket", "gc", "--bucket", bucket, "--keep", "2", "--grace", "0", "--yes")
        #expect(unsafe.status == 1 && unsafe.stderr.contains("compose-3-1-bbbb.caibx"), "\(unsafe.stderr)")
        #expect(scratch.exists("bucket/images/1-1-bbbb.ero"))
        try FileManager.default.removeItem(atPath: index3)
        try Data(good).write(to: URL(fileURLWithPath: index3))

        // A temporary file a killed writer left goes too.
        try scratch.write("bucket/casync/refs/main/.#latest.json0123456789abcdef", [1])
        #expect(try run("touch", ["-d", "2 hours ago", scratch.file("bucket/casync/refs/main/.#latest.json0123456789abcdef")]).succeeded)
        let gc = try cairn("bucket", "gc", "--json", "--bucket", bucket, "--keep", "2", "--grace", "0", "--yes")
        #expect(gc.succeeded, "\(gc.stderr)")
        #expect(gc.stdout.contains("\"abandonedWrites\" : 1") && !scratch.exists("bucket/casync/refs/main/.#latest.json0123456789abcdef"), "\(gc.stdout)")
        let report = try JSONSerialization.jsonObject(with: Data(gc.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["keptBuilds"] as? [String] == ["2-1-bbbb", "3-1-bbbb"])
        #expect(report["removedObjects"] as? [String] == ["casync/indexes/compose-1-1-bbbb.caibx", "casync/manifests/1-1-bbbb.json", "images/1-1-bbbb.ero"])
        let removedChunks = (report["chunks"] as? [String: Any])?["removed"] as? Int ?? 0
        #expect(removedChunks > 0 && scratch.chunkFiles("bucket/casync/chunks").count == before - removedChunks)
        #expect(try cairn("bucket", "verify", "--deep", "--bucket", bucket).succeeded)
        #expect(try cairn("pull", "--from", bucket, "--ref", "main", scratch.file("pulled.ero")).succeeded)
        #expect(try scratch.read("pulled.ero") == scratch.read("mkosi.output/live-pocket-fedora.ero"))
        let gone = try cairn("pull", "--from", bucket, "--build", "1-1-bbbb", scratch.file("old.ero"))
        #expect(gone.status == 1 && gone.stderr.contains("casync/manifests/1-1-bbbb.json is missing"), "\(gone.stderr)")
    }
}
