import Foundation
import Testing

/// Publishing when things go wrong: killed part-way, or through a network that drops requests.
@Suite struct PublishRecoveryTests {
    /// kill -9 at several points of a publish to S3: the ref never names an incomplete build, and a
    /// re-run converges to a complete, published build.
    @Test func killedPublishNeverLeavesADanglingRef() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        try scratch.write("image.ero", imageLikeBytes(12_000_000, seed: 91))
        let bucket = moto.store("killed")
        let arguments = ["publish", "--image", scratch.file("image.ero"), "--bucket", bucket, "--run", "1", "--sha", "dead", "--ref", "main",
                         "--chunk-size", "16K:64K:256K", "--jobs", "4"]
        for delay in [0.2, 0.5, 0.9, 1.4, 2.0] {
            let publish = try Started(cairnPath, arguments, in: scratch.path, environment: moto.environment)
            Thread.sleep(forTimeInterval: delay)
            publish.kill()
            _ = try publish.wait()
            // Whatever the ref names (if anything) is complete.
            let check = try run(cairnPath, ["bucket", "verify", "--bucket", bucket], environment: moto.environment)
            #expect(check.succeeded, "after a kill at \(delay) s: \(check.stdout)\(check.stderr)")
        }
        let rerun = try run(cairnPath, arguments + ["--json"], in: scratch.path, environment: moto.environment)
        #expect(rerun.succeeded, "\(rerun.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["published"] as? Bool == true)
        let deep = try run(cairnPath, ["bucket", "verify", "--deep", "--bucket", bucket], environment: moto.environment)
        #expect(deep.succeeded && deep.stdout.contains("main → 1-1-dead: complete"), "\(deep.stdout)\(deep.stderr)")
        #expect(try run(cairnPath, ["pull", "--from", bucket, "--ref", "main", scratch.file("pulled.ero")], environment: moto.environment).succeeded)
        #expect(try scratch.read("pulled.ero") == scratch.read("image.ero"))
    }

    /// Every request of a publish and a pull meets resets, 500 and 503 at first: both succeed.
    @Test func publishAndPullThroughFaults() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let proxy = try FaultProxy(upstream: moto.endpoint, ["--faults", "reset,503,500", "--fail-first", "2"])
        try scratch.write("image.ero", imageLikeBytes(3_000_000, seed: 92))
        let bucket = "s3+\(proxy.url)/\(MotoServer.bucket)/faulty"
        let published = try run(cairnPath, ["publish", "--image", scratch.file("image.ero"), "--bucket", bucket, "--run", "5", "--sha", "cafe",
                                            "--ref", "main", "--chunk-size", "16K:64K:256K"], in: scratch.path, environment: moto.environment)
        #expect(published.succeeded, "\(published.stderr)")
        let pulled = try run(cairnPath, ["pull", "--from", bucket, "--ref", "main", scratch.file("pulled.ero")], environment: moto.environment)
        #expect(pulled.succeeded, "\(pulled.stderr)")
        #expect(try scratch.read("pulled.ero") == scratch.read("image.ero"))
        let injected = try proxy.injected()
        #expect((injected["reset"] ?? 0) > 10 && (injected["503"] ?? 0) > 10, "\(injected)")
        #expect(try run(cairnPath, ["bucket", "verify", "--deep", "--bucket", moto.store("faulty")], environment: moto.environment).succeeded)
    }

    /// Multipart uploads a killed publish left open are aborted by bucket gc once older than the grace period.
    @Test func gcAbortsAbandonedMultipartUploads() throws {
        let moto = try MotoServer()
        let auth = "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
        let started = try run("curl", ["-s", "-X", "POST", "-H", auth, "http://\(moto.endpoint)/\(MotoServer.bucket)/p/images/9-1-x.ero?uploads"]).stdout
        #expect(started.contains("<UploadId>"), "\(started)")
        func pending() throws -> String { try run("curl", ["-s", "-H", auth, "http://\(moto.endpoint)/\(MotoServer.bucket)?uploads"]).stdout }
        #expect(try pending().contains("<Upload>"))
        let dry = try run(cairnPath, ["bucket", "gc", "--json", "--bucket", moto.store("p"), "--grace", "0"], environment: moto.environment)
        #expect(dry.succeeded && dry.stdout.contains("\"abandonedWrites\" : 0"), "\(dry.stdout)\(dry.stderr)")
        #expect(try pending().contains("<Upload>"))
        // (moto reports every upload as initiated in 2010, so the grace period cannot be shown here.)
        let gc = try run(cairnPath, ["bucket", "gc", "--json", "--bucket", moto.store("p"), "--grace", "0", "--yes"], environment: moto.environment)
        #expect(gc.succeeded && gc.stdout.contains("\"abandonedWrites\" : 1"), "\(gc.stdout)\(gc.stderr)")
        #expect(try !pending().contains("<Upload>"))
    }
}
