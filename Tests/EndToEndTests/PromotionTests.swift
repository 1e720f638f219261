import Foundation
import Testing

/// `cairn promote` against moto: builds published to `candidate` reach `stable` only when every
/// gate passes. The gates read each image by random access from the chunk store: a ZFS module
/// built for the image's kernel passes; one built for another kernel, or a kernel directory
/// without it, does not, and stable stays where it was. Audit records are immutable; concurrent
/// promotions lose no update.
@Suite(.serialized) struct PromotionTests {
    static let treeScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/kernel_tree.py").path

    static let rules = """
        { "schema": "cairn.channels.v1",
          "isolated": ["br-"],
          "channels": {
            "candidate": {},
            "soaked": { "from": ["candidate"], "gates": [ { "gate": "soak", "minimum": "1h" } ] },
            "stable": { "from": ["candidate"], "gates": [
              { "gate": "integrity" },
              { "gate": "content", "required": ["/usr/bin/bash", "/etc/os-release"], "forbidden": ["/etc/shadow-"],
                "per_kernel": { "required": ["vmlinuz", "modules.dep"] } },
              { "gate": "kernel-modules", "required": ["extra/zfs/zfs.ko*"] } ] } } }
        """

    struct Bucket {
        let scratch: Scratch
        let moto: MotoServer
        var store: String { moto.store("os") }

        /// Publishes a tree made by kernel_tree.py with `options` as run `run` to `ref`.
        func publish(run number: Int, _ options: [String], ref: String = "candidate", succeeds: Bool = true) throws -> Run {
            let tree = scratch.file("tree-\(number)")
            let made = try run("/usr/bin/env", ["python3", PromotionTests.treeScript, tree, "6.8.0"] + options)
            try #require(made.succeeded, "\(made.stderr)")
            let image = scratch.file("image-\(number).ero")
            try #require(try cairn("mkfs-erofs", image, tree).succeeded)
            let published = try run(cairnPath, ["publish", "--bucket", store, "--image", image, "--run", "\(number)", "--sha", "f00d", "--ref", ref,
                                                "--out", scratch.file("out-\(number)"), "--cache", scratch.file("cache")],
                                    in: scratch.path, environment: moto.environment)
            try #require(published.succeeded == succeeds, "\(published.stderr)")
            return published
        }

        func promote(_ options: [String] = [], runID: String? = nil, to target: String = "stable", rules: String = "cairn-channels.json") throws -> Run {
            var environment = moto.environment
            environment["GITHUB_RUN_ID"] = runID
            environment["GITHUB_ACTOR"] = "release-bot"
            return try run(cairnPath, ["promote", "--bucket", store, "--rules", scratch.file(rules), "--from", "candidate", "--to", target, "--json"] + options,
                           in: scratch.path, environment: environment)
        }

        func stable() throws -> [String: Any] {
            let got = try run(cairnPath, ["refs", "log", "--bucket", store, "stable", "--json"], environment: moto.environment)
            return (try? JSONSerialization.jsonObject(with: Data(got.stdout.utf8)) as? [String: Any]) ?? [:]
        }
    }

    static func setUp() throws -> Bucket {
        let scratch = try Scratch()
        try scratch.write("cairn-channels.json", Array(rules.utf8))
        return Bucket(scratch: scratch, moto: try MotoServer())
    }

    static func report(_ promoted: Run) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(promoted.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test func gatesDecideWhatReachesStable() throws {
        let bucket = try Self.setUp()
        _ = try bucket.publish(run: 1, ["--compress", "xz"])
        let first = try bucket.promote(["--deep"], runID: "901")
        #expect(first.succeeded, "\(first.stdout) \(first.stderr)")
        let report = Self.report(first)
        #expect(report["outcome"] as? String == "promoted" && report["build"] as? String == "1-1-f00d", "\(first.stdout)")
        // The image gates read a small share of the image's chunks.
        let read = report["chunksRead"] as? Int ?? 0, total = report["chunks"] as? Int ?? 0
        #expect(read > 0 && read * 5 < total, "read \(read) of \(total) chunks")
        #expect(first.stdout.contains("zfs.ko.xz: built for its kernel") && first.stdout.contains("the chunks rebuild the image"), "\(first.stdout)")

        // A module built for another kernel (zstd-compressed), then a kernel without the module:
        // refused, naming the module; stable stays on build 1.
        _ = try bucket.publish(run: 2, ["--module-for", "6.7.0", "--compress", "zst"])
        let stale = try bucket.promote(runID: "902")
        #expect(!stale.succeeded && stale.stderr.contains("zfs.ko.zst was built for kernel 6.7.0") && stale.stderr.contains("2-1-f00d"), "\(stale.stderr)")
        _ = try bucket.publish(run: 3, ["--no-module"])
        let missing = try bucket.promote(runID: "903")
        #expect(!missing.succeeded && missing.stderr.contains("kernel 6.8.0 has no module /usr/lib/modules/6.8.0/extra/zfs/zfs.ko*"), "\(missing.stderr)")
        // A forbidden file, and a kernel directory that is a symlink (its modules are not what
        // the gate would read): both named.
        _ = try bucket.publish(run: 4, ["--kernel-link", "6.9.0", "--shadow-backup"])
        let forbidden = try bucket.promote(runID: "904")
        #expect(!forbidden.succeeded && forbidden.stderr.contains("forbidden /etc/shadow- is present")
                && forbidden.stderr.contains("/usr/lib/modules/6.9.0 is not a directory"), "\(forbidden.stderr)")
        #expect(try bucket.stable()["build"] as? String == "1-1-f00d")

        // A dry run of an acceptable build reports and moves nothing, records nothing.
        _ = try bucket.publish(run: 5, [])
        let dry = try bucket.promote(["--dry-run"])
        #expect(dry.succeeded && Self.report(dry)["outcome"] as? String == "would promote", "\(dry.stdout) \(dry.stderr)")
        #expect(try bucket.stable()["build"] as? String == "1-1-f00d")

        // Missing data fails closed: build 5 without its index.
        let deleted = try run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "-H", MotoServer.anyAuthorization,
                                       "http://\(bucket.moto.endpoint)/\(MotoServer.bucket)/os/casync/indexes/compose-5-1-f00d.caibx"])
        #expect(deleted.stdout == "204", "\(deleted.stdout)")
        let unreadable = try bucket.promote(runID: "905")
        #expect(!unreadable.succeeded && unreadable.stderr.contains("compose-5-1-f00d.caibx"), "\(unreadable.stderr)")
        #expect(try bucket.stable()["build"] as? String == "1-1-f00d")

        // The audit log: every promotion that ran, refused ones included, with each gate.
        let log = try run(cairnPath, ["audit", "log", "--bucket", bucket.store, "stable", "--json"], environment: bucket.moto.environment)
        let records = (try? JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(records.map { $0["outcome"] as? String ?? "?" } == ["promoted", "refused", "refused", "refused", "refused"], "\(log.stdout) \(log.stderr)")
        #expect(records.allSatisfy { $0["actor"] as? String == "release-bot" && ($0["gates"] as? [Any])?.count == 3 })
        #expect(records.first?["previous"] == nil && records.last?["previous"] as? String == "1-1-f00d")

        // Records are never replaced: the same run promoting the same build again cannot write
        // its record (and stable, which names that build already, does not move).
        let again = try bucket.promote(["--build", "1-1-f00d"], runID: "901")
        #expect(!again.succeeded && again.stderr.contains("never replaced"), "\(again.stderr)")
        let after = try run(cairnPath, ["audit", "log", "--bucket", bucket.store, "stable", "--json"], environment: bucket.moto.environment)
        #expect(after.stdout == log.stdout)

        // A promotion's intent is recorded before its move (the promotion above left one beside
        // its final record, which the log shows once); an intent with no final record is a
        // promotion that stopped half-way, shown as interrupted.
        let listed = try run("curl", ["-s", "-H", MotoServer.anyAuthorization, "http://\(bucket.moto.endpoint)/\(MotoServer.bucket)?list-type=2&prefix=os/casync/audit/stable/"])
        #expect(listed.stdout.contains("stable-901-1-1-1-f00d.intent.json") && listed.stdout.contains("stable-901-1-1-1-f00d.json"), "\(listed.stdout)")
        let intent = #"{"action": "promote", "build": "5-1-f00d", "from": "candidate", "gates": [], "outcome": "promoting", "schema": "cairn.audit.v1", "time": "2099-01-01T00:00:00Z", "to": "stable"}"#
        let put = try run("/usr/bin/env", ["python3", "-c", """
            import boto3, sys
            boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="cairn-test", aws_secret_access_key="cairn-secret") \\
                .put_object(Bucket=sys.argv[2], Key="os/casync/audit/stable/stable-999-5-1-f00d.intent.json", Body=sys.argv[3].encode())
            print("200")
            """, "http://\(bucket.moto.endpoint)", MotoServer.bucket, intent])
        #expect(put.stdout == "200\n", "\(put.stdout) \(put.stderr)")
        let interrupted = try run(cairnPath, ["audit", "log", "--bucket", bucket.store, "stable"], environment: bucket.moto.environment)
        #expect(interrupted.stdout.split(separator: "\n").last?.contains("interrupted\t5-1-f00d") == true, "\(interrupted.stdout) \(interrupted.stderr)")
    }

    /// Two promotions into stable at once, of two builds candidate named: both land in stable's
    /// lineage (a compare-and-swap that loses re-reads and moves on top of the winner).
    @Test func concurrentPromotionsLoseNoUpdate() throws {
        let bucket = try Self.setUp()
        _ = try bucket.publish(run: 1, [])
        _ = try bucket.publish(run: 2, ["--compress", "xz"])
        let started = try [("1-1-f00d", "801"), ("2-1-f00d", "802")].map { build, runID in
            var environment = bucket.moto.environment
            environment["GITHUB_RUN_ID"] = runID
            return try Started(cairnPath, ["promote", "--bucket", bucket.store, "--rules", bucket.scratch.file("cairn-channels.json"),
                                           "--from", "candidate", "--to", "stable", "--build", build], in: bucket.scratch.path, environment: environment)
        }
        let runs = try started.map { try $0.wait() }
        #expect(runs.count == 2 && runs.allSatisfy(\.succeeded), "\(runs.map(\.stderr))")
        let history = (try bucket.stable()["history"] as? [[String: Any]]) ?? []
        #expect(Set(history.compactMap { $0["build"] as? String }) == ["1-1-f00d", "2-1-f00d"] && history.allSatisfy { $0["action"] as? String == "promote" }, "\(history)")

        // Rules: stable only from candidate; candidate is published to, not promoted into.
        let wrongSource = try run(cairnPath, ["promote", "--bucket", bucket.store, "--rules", bucket.scratch.file("cairn-channels.json"), "--from", "br-feature", "--to", "stable"],
                                  environment: bucket.moto.environment)
        #expect(!wrongSource.succeeded && wrongSource.stderr.contains("only from candidate"), "\(wrongSource.stderr)")
        let intoCandidate = try run(cairnPath, ["promote", "--bucket", bucket.store, "--rules", bucket.scratch.file("cairn-channels.json"), "--from", "stable", "--to", "candidate"],
                                    environment: bucket.moto.environment)
        #expect(!intoCandidate.succeeded && intoCandidate.stderr.contains("published to"), "\(intoCandidate.stderr)")

        // With the rules in the working directory, publish never lands on a channel that is
        // promoted into, a branch lands on br-<branch>, and refs set cannot move stable.
        let direct = try bucket.publish(run: 3, [], ref: "stable", succeeds: false)
        #expect(direct.stderr.contains("stable moves only by `cairn promote` from candidate"), "\(direct.stderr)")
        _ = try bucket.publish(run: 4, [], ref: "feature/x")
        let branch = try run(cairnPath, ["refs", "log", "--bucket", bucket.store, "br-feature-x"], environment: bucket.moto.environment)
        #expect(branch.succeeded && branch.stdout.contains("4-1-f00d"), "\(branch.stdout) \(branch.stderr)")
        let byHand = try run(cairnPath, ["refs", "set", "--bucket", bucket.store, "stable", "4-1-f00d"], in: bucket.scratch.path, environment: bucket.moto.environment)
        #expect(!byHand.succeeded && byHand.stderr.contains("only by `cairn promote`"), "\(byHand.stderr)")
        let stableHistory = (try bucket.stable()["history"] as? [[String: Any]]) ?? []
        #expect(stableHistory.count == 2 && stableHistory.allSatisfy { $0["action"] as? String == "promote" }, "\(stableHistory)")

        // Soak: build 2 has been candidate's for seconds, not the hour the rules ask.
        let young = try bucket.promote(to: "soaked")
        #expect(!young.succeeded && young.stderr.contains("at least 3600 s needed"), "\(young.stderr)")
        // A misspelt key in the rules is refused, not read as "no gates".
        try bucket.scratch.write("typo.json", Array(Self.rules.replacingOccurrences(of: "\"gates\"", with: "\"gate_list\"").utf8))
        let typo = try bucket.promote(rules: "typo.json")
        #expect(!typo.succeeded && typo.stderr.contains("unknown keys gate_list"), "\(typo.stderr)")
        #expect(try bucket.stable()["build"] as? String != nil)
    }
}
