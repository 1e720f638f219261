import Foundation
import Testing

/// Build inputs frozen into a lock and replayed: `cairn inputs lock`, `inputs diff`, and
/// `publish --lock`, which publishes nothing when the inputs differ and says which (against moto).
@Suite struct InputsLockTests {
    @Test func lockDiffAndReplay() throws {
        let scratch = try Scratch()
        try PublishTests.checkout(scratch, version: 1)
        let moto = try MotoServer()
        let bucket = moto.store("os")
        func publish(_ number: String, _ extra: [String]) throws -> Run {
            try run(cairnPath, ["publish", "--bucket", bucket, "--run", number, "--sha", "abc", "--ref", "main", "--chunk-size", "16K:64K:256K"] + extra,
                    in: scratch.path, environment: moto.environment)
        }
        func cairn(_ arguments: String...) throws -> Run { try run(cairnPath, arguments, environment: moto.environment) }
        let first = try publish("1", ["--input", "kernel=6.8.0", "--input", "base=quay.io/fedora/fedora-bootc@sha256:aaaa"])
        #expect(first.succeeded, "\(first.stderr)")
        let lock = try cairn("inputs", "lock", "--bucket", bucket, "1-1-abc")
        #expect(lock.succeeded, "\(lock.stderr)")
        try scratch.write("inputs.lock.json", Array(lock.stdout.utf8))
        let locked = try JSONSerialization.jsonObject(with: Data(lock.stdout.utf8)) as? [String: Any]
        #expect(locked?["inputs"] as? [String: String] == ["kernel": "6.8.0", "base": "quay.io/fedora/fedora-bootc@sha256:aaaa"])

        // A changed input: refused before anything is published, naming it.
        let changed = try publish("2", ["--lock", scratch.file("inputs.lock.json"), "--input", "kernel=6.9.0", "--input", "base=quay.io/fedora/fedora-bootc@sha256:aaaa"])
        #expect(!changed.succeeded && changed.stderr.contains("~ kernel: 6.8.0 -> 6.9.0") && !changed.stderr.contains("base="), "\(changed.stderr)")
        let missing = try publish("2", ["--lock", scratch.file("inputs.lock.json"), "--input", "kernel=6.8.0"])
        #expect(!missing.succeeded && missing.stderr.contains("- base=quay.io/fedora/fedora-bootc@sha256:aaaa"), "\(missing.stderr)")
        let notPublished = try cairn("inputs", "lock", "--bucket", bucket, "2-1-abc")
        #expect(!notPublished.succeeded && notPublished.stderr.contains("manifests/2-1-abc.json"), "\(notPublished.stderr)")

        // The same inputs: published, and the replay says it made the same image.
        let replay = try publish("2", ["--lock", scratch.file("inputs.lock.json"), "--input", "kernel=6.8.0", "--input", "base=quay.io/fedora/fedora-bootc@sha256:aaaa"])
        #expect(replay.succeeded && replay.stderr.contains("replay of build 1-1-abc: the image is identical to the one it made"), "\(replay.stderr)")
        let same = try cairn("inputs", "diff", "--bucket", bucket, "1-1-abc", "2-1-abc")
        #expect(same.succeeded && same.stdout.isEmpty, "\(same.stdout) \(same.stderr)")

        // Diff against a lock file and a build with other inputs.
        #expect(try publish("3", ["--input", "kernel=6.9.0", "--input", "zfs=2.2.4"]).succeeded)
        let differ = try cairn("inputs", "diff", "--bucket", bucket, scratch.file("inputs.lock.json"), "3-1-abc")
        #expect(!differ.succeeded && differ.stdout == "- base=quay.io/fedora/fedora-bootc@sha256:aaaa\n~ kernel: 6.8.0 -> 6.9.0\n+ zfs=2.2.4\n", "\(differ.stdout)")
    }
}
