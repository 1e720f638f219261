import Foundation
import Testing

/// `cairn oci pull docker://…` against Debian's docker-registry on loopback: the same image as
/// from the layout, multi-platform indexes, digest references, and bearer-token challenges
/// (anonymous, and with credentials from --creds or an auth file).
@Suite(.serialized) struct RegistryPullTests {
    /// The test layout pushed to a fresh registry, and an empty repository.
    static func setUp(_ registry: RegistryServer) throws -> (Scratch, layout: String, repo: String) {
        let (scratch, layout, repo) = try OCIPullTests.setUp()
        try registry.push("oci:\(layout):v2", as: "test/os:v2")
        return (scratch, layout, repo)
    }

    static func pull(_ arguments: [String], environment: [String: String] = [:]) throws -> (Run, [String: Any]) {
        let pulled = try run(cairnPath, ["oci", "pull", "--json", "--tls-verify=false"] + arguments, environment: environment)
        return (pulled, (try? JSONSerialization.jsonObject(with: Data(pulled.stdout.utf8)) as? [String: Any]) ?? [:])
    }

    @Test func pullFromRegistry() throws {
        let registry = try RegistryServer()
        let (scratch, layout, repo) = try Self.setUp(registry)
        let host = "127.0.0.1:\(registry.port)"
        let (local, fromLayout) = try Self.pull(["--repo", scratch.file("layout-repo"), "oci:\(layout):v2", "v2"])
        #expect(!local.succeeded, "the layout repository does not exist yet")
        #expect(try cairn("repo", "init", "--repo", scratch.file("layout-repo"), "--insecure").succeeded)
        let (_, expected) = try Self.pull(["--repo", scratch.file("layout-repo"), "oci:\(layout):v2", "v2"])
        #expect(fromLayout.isEmpty && expected["image"] != nil)

        let (pulled, result) = try Self.pull(["--repo", repo, "docker://\(host)/test/os:v2", "v2"])
        #expect(pulled.succeeded, "\(pulled.stderr)")
        #expect(result["image"] as? String == expected["image"] as? String && result["layersImported"] as? Int == 3, "\(result)")
        let compared = try OCIPullTests.compareMounted(repo: repo, tag: "v2", layout: layout, reference: "v2", in: scratch)
        #expect(compared.succeeded, "\(compared.stdout)")

        // By digest, the same manifest; an unknown tag or digest is named in the error.
        let digest = try #require(result["manifestDigest"] as? String)
        let (byDigest, again) = try Self.pull(["--repo", repo, "docker://\(host)/test/os@\(digest)", "pinned"])
        #expect(byDigest.succeeded && again["layersImported"] as? Int == 0 && again["image"] as? String == result["image"] as? String, "\(byDigest.stderr)")
        let (unknown, _) = try Self.pull(["--repo", repo, "docker://\(host)/test/os:nope", "x"])
        #expect(!unknown.succeeded && unknown.stderr.contains("nope") && unknown.stderr.contains("MANIFEST_UNKNOWN"), "\(unknown.stderr)")

        // A multi-platform index: this machine's platform by default, another on request.
        #expect(try run("/usr/bin/env", ["python3", OCIPullTests.imageScript, "index", layout]).succeeded)
        try registry.push("oci:\(layout):multi", as: "test/multi:1", all: true)
        let (native, nativeResult) = try Self.pull(["--repo", repo, "docker://\(host)/test/multi:1", "multi"])
        #expect(native.succeeded && nativeResult["image"] as? String == result["image"] as? String, "\(native.stderr)")
        let (arm, armResult) = try Self.pull(["--repo", repo, "--platform", "linux/arm64", "docker://\(host)/test/multi:1", "multi-arm"])
        #expect(arm.succeeded && armResult["image"] as? String != result["image"] as? String, "\(arm.stderr)")
        let (missing, _) = try Self.pull(["--repo", repo, "--platform", "linux/s390x", "docker://\(host)/test/multi:1", "x"])
        #expect(!missing.succeeded && missing.stderr.contains("linux/s390x") && missing.stderr.contains("linux/arm64"), "\(missing.stderr)")
        #expect(try cairn("repo", "fsck", "--repo", repo).succeeded)
    }

    /// An anonymous bearer challenge: the token is fetched for the repository's pull scope.
    @Test func anonymousBearerToken() throws {
        let registry = try RegistryServer(tokenAuth: true)
        let (scratch, _, repo) = try Self.setUp(registry)
        defer { withExtendedLifetime(scratch) {} }
        let port = try #require(registry.authenticatedPort)
        let (pulled, result) = try Self.pull(["--repo", repo, "docker://127.0.0.1:\(port)/test/os:v2", "v2"])
        #expect(pulled.succeeded && result["layersImported"] as? Int == 3, "\(pulled.stderr)")
        let log = try String(contentsOfFile: registry.tokenLog, encoding: .utf8)
        #expect(log.contains("service=test-registry") && log.contains("scope=repository:test/os:pull") && log.contains("basic=-"), "\(log)")
    }

    /// Blob downloads redirected to another origin (as registries backed by object storage do)
    /// are followed, and the registry's token does not go along.
    @Test func redirectsDropTheRegistryToken() throws {
        let registry = try RegistryServer(tokenAuth: true)
        let (scratch, _, repo) = try Self.setUp(registry)
        defer { withExtendedLifetime(scratch) {} }
        let (front, log) = try registry.startRedirectingFront()
        let (pulled, result) = try Self.pull(["--repo", repo, "docker://127.0.0.1:\(front)/test/os:v2", "v2"])
        #expect(pulled.succeeded && result["layersImported"] as? Int == 3, "\(pulled.stderr)")
        let requests = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(requests.count >= 4 && requests.allSatisfy { $0.hasSuffix("auth=absent") }, "\(requests)")
        #expect(try String(contentsOfFile: registry.tokenLog, encoding: .utf8).contains("scope=repository:test/os:pull"))
    }

    /// A token server that wants credentials: none or wrong ones are refused with a message that
    /// says so; --creds and an auth file are sent as Basic to the token server.
    @Test func credentials() throws {
        let registry = try RegistryServer(tokenAuth: true, requiredCredentials: "alice:s3cret")
        let (scratch, _, repo) = try Self.setUp(registry)
        let source = "docker://127.0.0.1:\(try #require(registry.authenticatedPort))/test/os:v2"
        let noAuthFile = ["REGISTRY_AUTH_FILE": scratch.file("absent.json"), "HOME": scratch.path, "XDG_RUNTIME_DIR": ""]
        let (anonymous, _) = try Self.pull(["--repo", repo, source, "v2"], environment: noAuthFile)
        #expect(!anonymous.succeeded && anonymous.stderr.contains("credentials"), "\(anonymous.stderr)")
        let (wrong, _) = try Self.pull(["--repo", repo, "--creds", "alice:wrong", source, "v2"], environment: noAuthFile)
        #expect(!wrong.succeeded && wrong.stderr.contains("wrong credentials"), "\(wrong.stderr)")
        let (right, _) = try Self.pull(["--repo", repo, "--creds", "alice:s3cret", source, "v2"], environment: noAuthFile)
        #expect(right.succeeded, "\(right.stderr)")

        let authFile = scratch.file("auth.json")
        let encoded = Data("alice:s3cret".utf8).base64EncodedString()
        try #"{"auths": {"127.0.0.1:\#(registry.authenticatedPort!)": {"auth": "\#(encoded)"}}}"#.write(toFile: authFile, atomically: true, encoding: .utf8)
        let (fromFile, _) = try Self.pull(["--repo", repo, source, "again"], environment: ["REGISTRY_AUTH_FILE": authFile])
        #expect(fromFile.succeeded, "\(fromFile.stderr)")
        let log = try String(contentsOfFile: registry.tokenLog, encoding: .utf8)
        #expect(log.contains("basic=alice:s3cret") && log.contains("account=alice"), "\(log)")
        #expect(try cairn("oci", "images", "--repo", repo).stdout.contains("again"))
    }
}
