import AsyncHTTPClient
import CairnCasync
import FoundationEssentials
import NIOCore
import NIOHTTP1
internal import COpenSSL

/// A small S3 client: signed object GET/HEAD/PUT/DELETE, conditional PUT, ListObjectsV2 with
/// pagination and DeleteObjects in batches, path-style or virtual-hosted.
public struct S3Client: Sendable {
    public private(set) var location: S3Location
    let signer: SigV4Signer?
    let transport: HTTPTransport

    /// - Parameters:
    ///   - credentials: nil sends unsigned requests (public buckets).
    ///   - transport: should not follow redirects (a redirected request would carry its signed
    ///     headers, the session token among them, to another host).
    public init(location: S3Location, credentials: S3Credentials?, region: String, transport: HTTPTransport = HTTPTransport(followsRedirects: false)) {
        self.location = location
        signer = credentials.map { SigV4Signer(credentials: $0, region: region) }
        self.transport = transport
    }

    /// The same bucket and credentials, with `name` appended to the key prefix.
    public func under(_ name: String) -> S3Client {
        var copy = self
        copy.location.prefix = location.key(name)
        return copy
    }

    /// The object (or the bytes in `range` of it) with its ETag, or nil if there is no object.
    public func get(_ key: String, range: Range<UInt64>? = nil) async throws -> StoredObject? {
        let headers = range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound - 1)")] } ?? []
        let response = try await send("GET", key: key, headers: headers)
        let object = StoredObject(bytes: response.body, etag: response.headers.first(name: "etag") ?? "")
        switch response.status {
        case 200 where range == nil: return object
        case 206 where response.body.count == range?.count: return object
        case 404: return nil
        default: throw failure(range.map { "GET bytes \($0.lowerBound)..<\($0.upperBound) of" } ?? "GET", key: key, response)
        }
    }

    public func exists(_ key: String) async throws -> Bool {
        try await head(key) != nil
    }

    /// The object's size, ETag and modification time, or nil if there is none.
    public func head(_ key: String) async throws -> ObjectInfo? {
        let response = try await send("HEAD", key: key)
        switch response.status {
        case 200:
            return ObjectInfo(
                key: key, size: response.headers.first(name: "content-length").flatMap { UInt64($0) } ?? 0,
                etag: response.headers.first(name: "etag") ?? "",
                modified: response.headers.first(name: "last-modified").flatMap(UTCTime.epochSeconds(parsing:)).map(Double.init) ?? 0)
        case 404: return nil
        default: throw failure("HEAD", key: key, response)
        }
    }

    /// Writes an object; returns false when the condition failed (412/409: another writer won).
    @discardableResult
    public func put(_ key: String, bytes: [UInt8], condition: WriteCondition = .none, contentType: String = "application/octet-stream") async throws -> Bool {
        let headers = [("Content-Type", contentType), ("Content-Length", String(bytes.count))] + Self.headers(for: condition)
        let response = try await send("PUT", key: key, headers: headers, body: ByteBuffer(bytes: bytes))
        switch response.status {
        case 200: return true
        case 412, 409: return false
        // A compare-and-swap over an object deleted meanwhile: moto answers 404 NoSuchKey.
        case 404 where condition != .none && condition != .absent && S3XML.text("Code", in: Substring(decoding: response.body, as: UTF8.self)) == "NoSuchKey":
            return false
        default: throw failure("PUT", key: key, response)
        }
    }

    public func delete(_ key: String) async throws {
        let response = try await send("DELETE", key: key)
        guard response.status == 204 || response.status == 200 || response.status == 404 else { throw failure("DELETE", key: key, response) }
    }

    /// Deletes keys with DeleteObjects, at most 1000 per request.
    public func delete(keys: [String]) async throws {
        for start in stride(from: 0, to: keys.count, by: 1000) {
            let batch = keys[start..<min(start + 1000, keys.count)]
            let body = ByteBuffer(string: "<Delete><Quiet>true</Quiet>" + batch.map { "<Object><Key>\(S3XML.escape($0))</Key></Object>" }.joined() + "</Delete>")
            let response = try await send(
                "POST", path: location.bucketPath, query: [("delete", "")],
                headers: [("Content-Type", "application/xml"), ("Content-MD5", Self.base64MD5(body))], body: body)
            guard response.status == 200 else { throw failure("DeleteObjects", key: "\(batch.count) keys", response) }
            let xml = Substring(decoding: response.body, as: UTF8.self)
            if let error = S3XML.elements("Error", in: xml).first {
                throw S3Error("DeleteObjects in \(location): \(S3XML.text("Key", in: error) ?? "?"): \(S3XML.text("Code", in: error) ?? "error") \(S3XML.text("Message", in: error) ?? "")")
            }
        }
    }

    /// Every object under `prefix`, following continuation tokens.
    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await list(prefix: prefix, ifAtMost: .max) ?? []
    }

    /// Every object under `prefix`, or nil as soon as there turn out to be more than `limit`
    /// (listing stops there).
    public func list(prefix: String, ifAtMost limit: Int) async throws -> [ObjectInfo]? {
        var objects = [ObjectInfo]()
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send("GET", path: location.bucketPath, query: query)
            guard response.status == 200 else { throw failure("ListObjectsV2", key: prefix, response) }
            let xml = Substring(decoding: response.body, as: UTF8.self)
            for entry in S3XML.elements("Contents", in: xml) {
                guard let key = S3XML.text("Key", in: entry) else { continue }
                objects.append(ObjectInfo(
                    key: key, size: UInt64(S3XML.text("Size", in: entry) ?? "") ?? 0, etag: S3XML.text("ETag", in: entry) ?? "",
                    modified: S3XML.text("LastModified", in: entry).flatMap(UTCTime.epochSeconds(parsing:)).map(Double.init) ?? 0))
            }
            if objects.count > limit { return nil }
            token = S3XML.text("IsTruncated", in: xml) == "true" ? S3XML.text("NextContinuationToken", in: xml) : nil
        } while token != nil
        return objects
    }

    func send(_ method: String, key: String, headers: [(String, String)] = [], body: ByteBuffer = ByteBuffer()) async throws -> HTTPResponseData {
        try await send(method, path: location.path(ofKey: key), headers: headers, body: body)
    }

    /// `body` goes out as it is on every attempt (a ByteBuffer is shared, not copied). With
    /// `signsPayload` false the signature leaves the body out (`UNSIGNED-PAYLOAD`): for bodies
    /// whose signed `Content-MD5` already protects them, one hash pass fewer.
    func send(
        _ method: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [], body: ByteBuffer = ByteBuffer(),
        signsPayload: Bool = true
    ) async throws -> HTTPResponseData {
        let payloadHash = body.readableBytes == 0 ? SigV4Signer.emptyPayloadHash
            : signsPayload ? body.withUnsafeReadableBytes { DigestAlgorithm.sha256.hash($0).hex } : SigV4Signer.unsignedPayload
        let unsigned = SigV4Signer.Request(method: method, host: location.host, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let url = location.baseURL + unsigned.encodedPath + (query.isEmpty ? "" : "?" + unsigned.encodedQuery)
        return try await transport.send("\(method) \(url)", bodySize: body.readableBytes) {
            var request = HTTPClientRequest(url: url)
            request.method = HTTPMethod(rawValue: method)
            let signed = signer?.sign(unsigned, at: Int(Date().timeIntervalSince1970)) ?? headers
            for (name, value) in signed where name.lowercased() != "content-length" { request.headers.add(name: name, value: value) }
            if body.readableBytes > 0 { request.body = .bytes(body) }
            return request
        }
    }

    func failure(_ operation: String, key: String, _ response: HTTPResponseData) -> S3Error {
        let xml = Substring(decoding: response.body, as: UTF8.self)
        let code = S3XML.text("Code", in: xml).map { " \($0)" } ?? ""
        var message = "\(operation) \(key) in \(location): server answered \(response.status)\(code)"
        if (300..<400).contains(response.status) {
            let target = response.headers.first(name: "x-amz-bucket-region").map { "region \($0)" }
                ?? response.headers.first(name: "location") ?? "another endpoint"
            message += "; the bucket answers at \(target) (redirects are not followed: they would carry the signature elsewhere)"
        } else if response.status == 403 || response.status == 401 {
            message += signer == nil
                ? "; no credentials were sent: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY)"
                : "; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY) and AWS_REGION"
        }
        return S3Error(message)
    }

    static func headers(for condition: WriteCondition) -> [(String, String)] {
        switch condition {
        case .none: []
        case .absent: [("If-None-Match", "*")]
        case .matching(let etag): [("If-Match", etag)]
        }
    }

    static func base64MD5(_ bytes: ByteBuffer) -> String {
        var digest = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        _ = bytes.withUnsafeReadableBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_md5(), nil) }
        return Data(digest).base64EncodedString()
    }
}
