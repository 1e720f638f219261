import Foundation
import Testing

/// Stores behind a proxy that injects faults: every operation either succeeds through retries or
/// fails with a clear error once the retry budget is spent, and no corrupt chunk lands anywhere.
@Suite struct FaultInjectionTests {
    /// Each kind of transient fault, twice on every URL (once for a corrupt body, which the
    /// fetcher rather than the transport retries): extract still reproduces the input.
    @Test(arguments: [["reset", "500"], ["503", "truncate"], ["corrupt"], ["stall"]])
    func extractSurvivesTransientFaults(faults: [String]) throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", imageLikeBytes(1_500_000, seed: 71))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let server = try NginxServer(root: scratch.file("www"))
        let failures = faults == ["reset", "500"] || faults == ["503", "truncate"] ? "2" : "1"
        let proxy = try FaultProxy(upstream: "127.0.0.1:\(server.port)", ["--faults", faults.joined(separator: ","), "--fail-first", failures, "--stall-seconds", "5"])
        let result = try run(cairnPath, ["extract", "--store", proxy.url + "/store", "--cache", scratch.file("cache"), scratch.file("x.caibx"), scratch.file("out")],
                             environment: ["CAIRN_HTTP_TIMEOUT": "1"])
        #expect(result.succeeded, "\(faults): \(result.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
        let injected = try proxy.injected()
        for fault in faults { #expect((injected[fault] ?? 0) > 0, "\(fault) was never injected: \(injected)") }
        // Every cached chunk is the good one.
        let check = try cairn("verify", "--store", scratch.file("cache"))
        #expect(check.succeeded && check.stdout.contains("0 bad"), "\(check.stdout)\(check.stderr)")
    }

    @Test func exhaustedRetriesFailClearlyAndLeaveNothing() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(500_000, seed: 72))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let server = try NginxServer(root: scratch.file("www"))

        let unavailable = try FaultProxy(upstream: "127.0.0.1:\(server.port)", ["--faults", "503", "--fail-all"])
        let gaveUp = try run(cairnPath, ["extract", "--store", unavailable.url + "/store", scratch.file("x.caibx"), scratch.file("out")],
                             environment: ["CAIRN_HTTP_ATTEMPTS": "3"])
        #expect(gaveUp.status == 1)
        #expect(gaveUp.stderr.contains(unavailable.url) && gaveUp.stderr.contains("503") && gaveUp.stderr.contains("gave up after 3 attempts"), "\(gaveUp.stderr)")
        #expect(!scratch.exists("out"))

        let corrupting = try FaultProxy(upstream: "127.0.0.1:\(server.port)", ["--faults", "corrupt", "--fail-all"])
        let corrupt = try cairn("extract", "--store", corrupting.url + "/store", "--cache", scratch.file("cache"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(corrupt.status == 1 && corrupt.stderr.contains("is corrupt"), "\(corrupt.stderr)")
        #expect(!scratch.exists("out"))
        #expect(scratch.chunkFiles("cache").isEmpty, "a corrupt download reached the cache")
    }

    /// Uploads, listing, gc's batch deletes and downloads through faults on S3 requests.
    @Test func s3OperationsSurviveTransientFaults() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let proxy = try FaultProxy(upstream: moto.endpoint, ["--faults", "reset,503,500,truncate", "--fail-first", "3"])
        let store = "s3+\(proxy.url)/\(MotoServer.bucket)/faulty"
        let direct = moto.store("faulty")
        let input = try scratch.write("input", imageLikeBytes(2_000_000, seed: 73))
        func cairnS3(_ arguments: String...) throws -> Run { try run(cairnPath, arguments, environment: moto.environment) }

        let made = try cairnS3("make", "--store", store, scratch.file("x.caibx"), input)
        #expect(made.succeeded, "\(made.stderr)")
        #expect(try cairn("make", "--index-only", scratch.file("plain.caibx"), input).succeeded)
        #expect(try scratch.read("x.caibx") == scratch.read("plain.caibx"))
        let verified = try cairnS3("verify", "--store", direct, scratch.file("x.caibx"))
        #expect(verified.succeeded && verified.stdout.contains("0 bad, 0 missing"), "\(verified.stdout)\(verified.stderr)")

        #expect(try cairnS3("extract", "--store", store, scratch.file("x.caibx"), scratch.file("out")).succeeded)
        #expect(try scratch.read("out") == scratch.read("input"))

        try scratch.write("other", randomBytes(100_000, seed: 74))
        #expect(try cairn("make", "--index-only", scratch.file("other.caibx"), scratch.file("other")).succeeded)
        let gc = try cairnS3("gc", "--grace", "0", "--store", store, scratch.file("other.caibx"))
        #expect(gc.succeeded, "\(gc.stderr)")
        let info = try cairnS3("info", "--json", "--store", direct, scratch.file("x.caibx"))
        let after = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as! [String: Any]
        #expect(after["missingChunks"] as? Int == after["uniqueChunks"] as? Int, "\(info.stdout)")
        let injected = try proxy.injected()
        for fault in ["reset", "503", "500"] { #expect((injected[fault] ?? 0) > 0, "\(fault) was never injected: \(injected)") }
    }

    /// make lists a bucket that is small next to the input instead of asking about every chunk.
    @Test func makeListsASmallBucketOnce() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let proxy = try FaultProxy(upstream: moto.endpoint, [])
        let input = try scratch.write("input", randomBytes(3_000_000, seed: 75))
        let made = try run(cairnPath, ["make", "--json", "--store", "s3+\(proxy.url)/\(MotoServer.bucket)/listed", scratch.file("x.caibx"), input],
                           environment: moto.environment)
        #expect(made.succeeded, "\(made.stderr)")
        let figures = try JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as! [String: Any]
        let uploaded = figures["newChunks"] as? Int ?? 0
        #expect(uploaded > 20)
        // One listing page and one PUT per chunk, no HEADs.
        #expect(try proxy.requests() == uploaded + 1)
    }
}
