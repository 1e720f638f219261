import CairnCasync
@testable import CairnStores
import Testing

/// The AWS S3 documentation's SigV4 examples (servers.md §3.6).
@Suite struct SigV4SignerTests {
    static let signer = SigV4Signer(
        credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    /// 20130524T000000Z
    static let time = 1_369_353_600
    static let host = "examplebucket.s3.amazonaws.com"

    static func signature(_ request: SigV4Signer.Request) -> String {
        let authorization = signer.sign(request, at: time).first { $0.0 == "Authorization" }!.1
        return String(authorization.split(separator: "=").last!)
    }

    @Test func getObjectWithRange() {
        let request = SigV4Signer.Request(method: "GET", host: Self.host, path: "/test.txt", headers: [("Range", "bytes=0-9")], payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.signature(request) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        let headers = [("Range", "bytes=0-9"), ("host", Self.host), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")]
        let (canonical, _) = Self.signer.canonicalRequest(request, headers: headers)
        #expect(DigestAlgorithm.sha256.hash(Array(canonical.utf8)).hex == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    }

    @Test func putObjectWithEncodedKey() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let request = SigV4Signer.Request(
            method: "PUT", host: Self.host, path: "/test$file.text",
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: DigestAlgorithm.sha256.hash(body).hex)
        #expect(request.encodedPath == "/test%24file.text")
        #expect(Self.signature(request) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func queryWithoutValue() {
        let request = SigV4Signer.Request(method: "GET", host: Self.host, path: "/", query: [("lifecycle", "")], payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.signature(request) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func sortedQuery() {
        let request = SigV4Signer.Request(method: "GET", host: Self.host, path: "/", query: [("prefix", "J"), ("max-keys", "2")], payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(request.encodedQuery == "max-keys=2&prefix=J")
        #expect(Self.signature(request) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func encodingFollowsRFC3986() {
        #expect(URIEncoding.encode("a b+c:d/é~", keepingSlashes: true) == "a%20b%2Bc%3Ad/%C3%A9~")
        #expect(URIEncoding.encode("sig/", keepingSlashes: false) == "sig%2F")
    }

    @Test func descriptionNeverShowsTheSecret() {
        let credentials = S3Credentials(accessKeyID: "AKID", secretAccessKey: "very-secret", sessionToken: "token")
        #expect(!"\(credentials)".contains("very-secret") && !String(reflecting: credentials).contains("very-secret"))
    }
}

@Suite struct UTCTimeTests {
    @Test(arguments: [
        (0, "19700101T000000Z"), (951_782_400, "20000229T000000Z"), (1_369_353_600, "20130524T000000Z"),
        (4_102_444_800 + 86399, "21000101T235959Z"), (1_795_000_000, "20261118T110640Z"),
    ])
    func signingTimestamps(seconds: Int, stamp: String) {
        #expect(SigV4Signer.timestamps(seconds).1 == stamp)
        #expect(SigV4Signer.timestamps(seconds).0 == String(stamp.prefix(8)))
    }

    @Test func listingTimestampsParse() {
        #expect(UTCTime.epochSeconds(parsing: "2013-05-24T00:00:00.000Z") == 1_369_353_600)
        #expect(UTCTime.epochSeconds(parsing: "Fri, 24 May 2013 00:00:00 GMT") == 1_369_353_600)
        #expect(UTCTime.epochSeconds(parsing: "2000-02-29T00:00:00Z") == 951_782_400)
        #expect(UTCTime.epochSeconds(parsing: "garbage") == nil)
    }
}
