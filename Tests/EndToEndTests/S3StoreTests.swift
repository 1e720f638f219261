import CairnStores
import Foundation
import Testing

/// The blob-layer commands on an S3 store (moto), with desync's key layout.
@Suite struct S3StoreTests {
    @Test func makeExtractVerifyAndGCOnS3() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let store = moto.store("images/casync")
        let input = try scratch.write("input", imageLikeBytes(3_000_000, seed: 61))
        func cairnS3(_ arguments: String...) throws -> Run { try run(cairnPath, arguments, environment: moto.environment) }

        let made = try cairnS3("make", "--json", "--store", store, scratch.file("x.caibx"), input)
        #expect(made.succeeded, "\(made.stderr)")
        #expect(try cairn("make", "--index-only", scratch.file("local.caibx"), input).succeeded)
        #expect(try scratch.read("x.caibx") == scratch.read("local.caibx"))
        // A second make finds every chunk and uploads nothing.
        let again = try cairnS3("make", "--json", "--store", store, scratch.file("x.caibx"), input)
        let figures = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        #expect(figures["newChunks"] as? Int == 0, "\(again.stdout)")

        // desync's layout: PREFIX/<4 hex>/<id>.cacnk
        let listing = try run("curl", ["-s", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
                                        "http://\(moto.endpoint)/\(MotoServer.bucket)?list-type=2&prefix=images/casync/"]).stdout
        let firstID = try cairn("list-chunks", scratch.file("x.caibx")).stdout.prefix(64)
        #expect(listing.contains("<Key>images/casync/\(firstID.prefix(4))/\(firstID).cacnk</Key>"), "\(listing.prefix(500))")

        #expect(try cairnS3("extract", "--store", store, scratch.file("x.caibx"), scratch.file("out")).succeeded)
        #expect(try scratch.read("out") == scratch.read("input"))
        #expect(try cairnS3("digest", "--store", store, scratch.file("x.caibx")).stdout == cairn("digest", input).stdout)
        #expect(try cairnS3("verify", "--store", store).stdout.contains("0 bad, 0 missing"))

        // gc with another index removes every chunk of this one, in DeleteObjects batches.
        try scratch.write("other", randomBytes(200_000, seed: 62))
        #expect(try cairn("make", "--index-only", scratch.file("other.caibx"), scratch.file("other")).succeeded)
        let young = try cairnS3("gc", "--store", store, scratch.file("other.caibx"))
        #expect(young.stdout.contains("removed 0 chunks"), "\(young.stdout)\(young.stderr)")
        let gc = try cairnS3("gc", "--json", "--grace", "0", "--store", store, scratch.file("other.caibx"))
        let report = try JSONSerialization.jsonObject(with: Data(gc.stdout.utf8)) as! [String: Any]
        #expect((report["removed"] as? Int ?? 0) > 0, "\(gc.stdout)\(gc.stderr)")
        let info = try cairnS3("info", "--json", "--store", store, scratch.file("x.caibx"))
        let after = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as! [String: Any]
        #expect(after["missingChunks"] as? Int == after["uniqueChunks"] as? Int)
    }

    /// moto's IAM mode recomputes each signature with botocore, an independent implementation.
    @Test func signaturesAreAcceptedAndWrongSecretsRefused() throws {
        let scratch = try Scratch()
        let moto = try MotoServer(checkingSignatures: true)
        let input = try scratch.write("input", randomBytes(400_000, seed: 65))
        let store = moto.store("signed")
        let made = try run(cairnPath, ["make", "--store", store, scratch.file("x.caibx"), input], environment: moto.environment)
        #expect(made.succeeded, "\(made.stderr)")
        var auto = moto.environment
        auto["AWS_REGION"] = "auto"
        let extracted = try run(cairnPath, ["extract", "--store", store, scratch.file("x.caibx"), scratch.file("out")], environment: auto)
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))

        var wrong = moto.environment
        wrong["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
        let refused = try run(cairnPath, ["extract", "--store", store, scratch.file("x.caibx"), scratch.file("refused")], environment: wrong)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("SignatureDoesNotMatch") && refused.stderr.contains("AWS_SECRET_ACCESS_KEY"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("not-the-secret") && !refused.stderr.contains("Signature="))
        #expect(!scratch.exists("refused"))
    }

    @Test func multipartRangesAndCompareAndSwap() async throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let client = S3Client(
            location: try S3Location(parsing: moto.store("objects")),
            credentials: S3Credentials(accessKeyID: "cairn-test", secretAccessKey: "cairn-secret"), region: "us-east-1")
        let big = try scratch.write("big", randomBytes(12 << 20 | 12345, seed: 66))
        #expect(try await client.upload(file: big, to: client.location.key("big.ero"), condition: .absent, partSize: 5 << 20))
        #expect(try await client.get(client.location.key("big.ero"))?.bytes == scratch.read("big"))
        let range: Range<UInt64> = 5_242_000..<5_243_000
        #expect(try await client.get(client.location.key("big.ero"), range: range)?.bytes == Array(scratch.read("big")[Int(range.lowerBound)..<Int(range.upperBound)]))

        // The same key again loses the race, and the failed upload leaves no parts behind.
        let other = try scratch.write("other", randomBytes(11 << 20, seed: 67))
        #expect(try await client.upload(file: other, to: client.location.key("big.ero"), condition: .absent, partSize: 5 << 20) == false)
        #expect(try await client.get(client.location.key("big.ero"))?.bytes == scratch.read("big"))
        let uploads = try run("curl", ["-s", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
                                       "http://\(moto.endpoint)/\(MotoServer.bucket)?uploads"]).stdout
        #expect(uploads.contains("ListMultipartUploadsResult") && !uploads.contains("<Upload>"), "\(uploads)")

        // Compare-and-swap with If-Match: only a writer that saw the current ETag wins.
        let ref = client.location.key("refs/latest.json")
        #expect(try await client.put(ref, bytes: Array("v1".utf8), condition: .absent))
        let first = try #require(try await client.head(ref))
        #expect(first.size == 2)
        #expect(try await client.put(ref, bytes: Array("v2".utf8), condition: .matching(etag: first.etag)))
        #expect(try await client.put(ref, bytes: Array("v3".utf8), condition: .matching(etag: first.etag)) == false)
        #expect(try await client.get(ref)?.bytes == Array("v2".utf8))

        // Small files go in one PUT.
        let small = try scratch.write("small", randomBytes(1000, seed: 68))
        #expect(try await client.upload(file: small, to: client.location.key("small")))
        #expect(try await client.get(client.location.key("small"))?.bytes == scratch.read("small"))
    }

    @Test func missingCredentialsAreNamed() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let input = try scratch.write("input", randomBytes(100_000, seed: 63))
        #expect(try run(cairnPath, ["make", "--store", moto.store("p"), scratch.file("x.caibx"), input], environment: moto.environment).succeeded)
        let process = try run("/usr/bin/env", ["-u", "AWS_ACCESS_KEY_ID", "-u", "AWS_SECRET_ACCESS_KEY", "-u", "R2_ACCESS_KEY_ID", "-u", "R2_SECRET_ACCESS_KEY",
                                               cairnPath, "extract", "--store", moto.store("p"), scratch.file("x.caibx"), scratch.file("out")])
        #expect(process.status == 1)
        #expect(process.stderr.contains("403") && process.stderr.contains("AWS_ACCESS_KEY_ID"), "\(process.stderr)")
        #expect(!process.stderr.contains("cairn-secret"))
        #expect(!scratch.exists("out"))
    }

    /// A redirected signed request would carry its signature and session token to another host.
    @Test func s3RedirectsAreNotFollowed() throws {
        let scratch = try Scratch()
        let moto = try MotoServer()
        let input = try scratch.write("input", randomBytes(100_000, seed: 69))
        try FileManager.default.createDirectory(atPath: scratch.file("empty"), withIntermediateDirectories: true)
        let front = try NginxServer(root: scratch.file("empty"), extraConfig: "location / { return 307 http://\(moto.endpoint)$request_uri; }")
        var environment = moto.environment
        environment["AWS_SESSION_TOKEN"] = "session-token-secret"
        let result = try run(cairnPath, ["make", "--store", "s3+\(front.url)/\(MotoServer.bucket)/p", scratch.file("x.caibx"), input], environment: environment)
        #expect(result.status == 1)
        #expect(result.stderr.contains("307") && result.stderr.contains("redirects are not followed"), "\(result.stderr)")
        #expect(!result.stderr.contains("session-token-secret"))
        #expect(!scratch.exists("x.caibx"))
    }

    @Test func badStoreURLsAreRefused() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(1000, seed: 64))
        for url in ["s3+http://127.0.0.1:1", "s3+https://host/bucket?lookup=maybe", "ftp://host/store"] {
            let result = try cairn("make", "--store", url, scratch.file("x.caibx"), input)
            #expect(result.status != 0 && result.stderr.contains(url.prefix(12)), "\(url): \(result.stderr)")
        }
        #expect(!scratch.exists("x.caibx"))
    }
}
