import CairnIO
import NIOCore
import NIOHTTP1
import SystemPackage

extension S3Client {
    /// Uploads a file as one object: a single PUT when it is small, else a multipart upload (see
    /// `stage`). The object appears only when complete. Returns false when the condition failed
    /// (another writer won).
    @discardableResult
    public func upload(file path: String, to key: String, condition: WriteCondition = .none, partSize: Int = 16 << 20, concurrentParts: Int = 4) async throws -> Bool {
        guard let staged = try await stage(file: path, to: key, partSize: partSize, concurrentParts: concurrentParts) else {
            return try await put(key, bytes: try File.open(path, .readOnly).readAll(), condition: condition)
        }
        return try await complete(staged, condition: condition)
    }

    /// An object's parts, sent but not yet assembled: nothing is visible under the key until
    /// `complete`, and `abortMultipartUpload` drops them.
    public struct StagedUpload: Sendable {
        public let key: String
        public let uploadID: String
        let etags: [String]
    }

    /// Sends a file larger than one part as a multipart upload whose parts go `concurrentParts`
    /// at a time (each read straight into the buffer that is sent, so memory stays near
    /// `concurrentParts × partSize`); nil for a file small enough for one PUT. A failure aborts
    /// the upload, so no parts are left behind to pay for.
    public func stage(file path: String, to key: String, partSize: Int = 16 << 20, concurrentParts: Int = 4) async throws -> StagedUpload? {
        let file = try File.open(path, .readOnly)
        let size = try file.size()
        // S3 allows at most 10,000 parts, each but the last at least 5 MiB.
        let partSize = max(partSize, 5 << 20, Int((size + 9_999) / 10_000))
        guard size > UInt64(partSize) else { return nil }
        let uploadID = try await startMultipartUpload(key)
        do {
            let parts = Array(stride(from: UInt64(0), to: size, by: partSize).enumerated())
            let etags = try await mapConcurrently(parts, width: concurrentParts) { number, offset in
                let length = Int(min(UInt64(partSize), size - offset))
                var bytes = ByteBuffer()
                let got = try bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
                    try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<length]), at: offset)
                }
                guard got == length else {
                    throw S3Error("\(path) shrank while it was being uploaded to \(key) in \(location)")
                }
                return try await uploadPart(key, uploadID: uploadID, number: number + 1, bytes: bytes)
            }
            return StagedUpload(key: key, uploadID: uploadID, etags: etags)
        } catch {
            await abortRegardless(key, uploadID: uploadID)
            throw error
        }
    }

    /// Assembles a staged upload into its object if `condition` holds; false (and the parts
    /// dropped) when it does not.
    public func complete(_ staged: StagedUpload, condition: WriteCondition) async throws -> Bool {
        do {
            let completed = try await completeMultipartUpload(staged.key, uploadID: staged.uploadID, etags: staged.etags, condition: condition)
            if !completed { try await abortMultipartUpload(staged.key, uploadID: staged.uploadID) }
            return completed
        } catch {
            await abortRegardless(staged.key, uploadID: staged.uploadID)
            throw error
        }
    }

    /// Aborts an upload even from a cancelled task (whose own requests would fail at once), so
    /// that no parts are left behind; a failure here leaves them to `bucket gc`.
    func abortRegardless(_ key: String, uploadID: String) async {
        let client = self
        await Task.detached { try? await client.abortMultipartUpload(key, uploadID: uploadID) }.value
    }

    private func startMultipartUpload(_ key: String) async throws -> String {
        let response = try await send("POST", path: location.path(ofKey: key), query: [("uploads", "")], headers: [("Content-Type", "application/octet-stream")])
        let xml = Substring(decoding: response.body, as: UTF8.self)
        guard response.status == 200, let uploadID = S3XML.text("UploadId", in: xml) else {
            throw failure("CreateMultipartUpload", key: key, response)
        }
        return uploadID
    }

    private func uploadPart(_ key: String, uploadID: String, number: Int, bytes: ByteBuffer) async throws -> String {
        let response = try await send(
            "PUT", path: location.path(ofKey: key), query: [("partNumber", String(number)), ("uploadId", uploadID)],
            headers: [("Content-Length", String(bytes.readableBytes)), ("Content-MD5", Self.base64MD5(bytes))], body: bytes,
            signsPayload: false)
        guard response.status == 200, let etag = response.headers.first(name: "etag") else {
            throw failure("UploadPart \(number) of", key: key, response)
        }
        return etag
    }

    /// False when the condition failed. S3 may answer 200 and still report an error in the body.
    private func completeMultipartUpload(_ key: String, uploadID: String, etags: [String], condition: WriteCondition) async throws -> Bool {
        let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(S3XML.escape($0.element))</ETag></Part>" }
        let body = ByteBuffer(string: "<CompleteMultipartUpload>" + parts.joined() + "</CompleteMultipartUpload>")
        let response = try await send(
            "POST", path: location.path(ofKey: key), query: [("uploadId", uploadID)],
            headers: [("Content-Type", "application/xml")] + Self.headers(for: condition), body: body)
        switch response.status {
        case 200:
            let xml = Substring(decoding: response.body, as: UTF8.self)
            if let code = S3XML.text("Code", in: xml) {
                if code == "PreconditionFailed" || code == "ConditionalRequestConflict" { return false }
                throw S3Error("CompleteMultipartUpload \(key) in \(location): \(code) \(S3XML.text("Message", in: xml) ?? "")")
            }
            return true
        case 412, 409: return false
        default: throw failure("CompleteMultipartUpload", key: key, response)
        }
    }

    /// A multipart upload that was started and neither completed nor aborted.
    public struct PendingUpload: Sendable {
        public var key: String
        public var uploadID: String
        /// Seconds since the epoch.
        public var initiated: Double
    }

    /// Uploads under `prefix` still open: parts a killed writer left behind, which the bucket
    /// stores (and bills) until they are aborted.
    public func pendingUploads(prefix: String) async throws -> [PendingUpload] {
        var found = [PendingUpload]()
        var markers: (key: String, uploadID: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.uploadID)] }
            let response = try await send("GET", path: location.bucketPath, query: query)
            guard response.status == 200 else { throw failure("ListMultipartUploads", key: prefix, response) }
            let xml = Substring(decoding: response.body, as: UTF8.self)
            for upload in S3XML.elements("Upload", in: xml) {
                guard let key = S3XML.text("Key", in: upload), let id = S3XML.text("UploadId", in: upload) else { continue }
                let initiated = S3XML.text("Initiated", in: upload).flatMap(UTCTime.epochSeconds(parsing:)).map(Double.init) ?? 0
                found.append(PendingUpload(key: key, uploadID: id, initiated: initiated))
            }
            markers = nil
            if S3XML.text("IsTruncated", in: xml) == "true", let key = S3XML.text("NextKeyMarker", in: xml), let id = S3XML.text("NextUploadIdMarker", in: xml) {
                markers = (key, id)
            }
        } while markers != nil
        return found
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        let response = try await send("DELETE", path: location.path(ofKey: key), query: [("uploadId", uploadID)])
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw failure("AbortMultipartUpload", key: key, response)
        }
    }
}
