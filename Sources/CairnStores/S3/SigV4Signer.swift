import CairnCasync

/// AWS Signature Version 4 for S3, as header authentication (servers.md §3).
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: S3Credentials
    public let region: String

    public init(credentials: S3Credentials, region: String) {
        (self.credentials, self.region) = (credentials, region)
    }

    /// A request to sign. `path` is the unencoded path (`/bucket/key`); `query` unencoded pairs.
    public struct Request: Sendable {
        public var method: String
        public var host: String
        public var path: String
        public var query: [(String, String)]
        public var headers: [(String, String)]
        public var payloadHash: String

        public init(method: String, host: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [], payloadHash: String) {
            (self.method, self.host, self.path, self.query, self.headers, self.payloadHash) = (method, host, path, query, headers, payloadHash)
        }

        /// The path as it goes on the wire and into the signature.
        public var encodedPath: String { path.isEmpty ? "/" : URIEncoding.encode(path, keepingSlashes: true) }

        /// The query as it goes on the wire and into the signature: encoded, sorted.
        public var encodedQuery: String {
            query.map { (URIEncoding.encode($0.0, keepingSlashes: false), URIEncoding.encode($0.1, keepingSlashes: false)) }
                .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
                .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
    }

    /// The headers to send: the request's own plus `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` (with a session token) and `Authorization`.
    public func sign(_ request: Request, at time: Int) -> [(String, String)] {
        let (date, stamp) = Self.timestamps(time)
        var headers = request.headers + [("host", request.host), ("x-amz-content-sha256", request.payloadHash), ("x-amz-date", stamp)]
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        let (canonical, signedHeaders) = canonicalRequest(request, headers: headers)
        let scope = "\(date)/\(region)/s3/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(DigestAlgorithm.sha256.hash(Array(canonical.utf8)).hex)"
        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [date, region, "s3", "aws4_request"] { key = HMACSHA256.authenticate(Array(part.utf8), key: key) }
        let signature = Hex.encode(HMACSHA256.authenticate(Array(stringToSign.utf8), key: key))
        headers.removeAll { $0.0 == "host" }
        headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return headers
    }

    /// The canonical request and the signed-headers list (every header given is signed).
    public func canonicalRequest(_ request: Request, headers: [(String, String)]) -> (String, String) {
        let canonicalHeaders = headers
            .map { ($0.0.lowercased(), $0.1.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")) }
            .sorted { $0.0 < $1.0 }
        let signed = canonicalHeaders.map(\.0).joined(separator: ";")
        let lines = [request.method, request.encodedPath, request.encodedQuery]
            + canonicalHeaders.map { "\($0.0):\($0.1)" } + ["", signed, request.payloadHash]
        return (lines.joined(separator: "\n"), signed)
    }

    /// `YYYYMMDD` and `YYYYMMDD'T'HHMMSS'Z'` for seconds since the epoch, in UTC.
    static func timestamps(_ time: Int) -> (String, String) {
        let c = UTCTime.components(ofEpochSeconds: time)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(c.year)\(two(c.month))\(two(c.day))"
        return (date, "\(date)T\(two(c.hour))\(two(c.minute))\(two(c.second))Z")
    }
}
