import AsyncHTTPClient
import NIOHTTP1

/// Objects read through a public base URL (a CDN, nginx, a public bucket in front of the store):
/// `<base>/<key>`. 404 means missing; transient failures are retried by the transport.
public struct HTTPObjectSource: ObjectSource {
    public let base: String
    let transport: HTTPTransport
    /// Requests wait on round trips, so many go at once (the connection pool reuses connections).
    public let concurrentRequests: Int

    public init(base: String, transport: HTTPTransport = HTTPTransport(), concurrentRequests: Int = 16) {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        (self.base, self.transport, self.concurrentRequests) = (base, transport, concurrentRequests)
    }

    public var description: String { base + "/" }

    func url(of key: String) -> String { base + "/" + URIEncoding.encode(key, keepingSlashes: true) }

    public func get(_ key: String) async throws -> StoredObject? {
        let url = url(of: key)
        let response = try await transport.send("GET \(url)") { HTTPClientRequest(url: url) }
        switch response.status {
        case 200: return StoredObject(bytes: response.body, etag: response.headers.first(name: "etag") ?? "")
        case 404: return nil
        default: throw HTTPTransportError("GET \(url): server answered \(response.status)")
        }
    }

    public func exists(_ key: String) async throws -> Bool {
        let url = url(of: key)
        let response = try await transport.send("HEAD \(url)") {
            var request = HTTPClientRequest(url: url)
            request.method = .HEAD
            return request
        }
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw HTTPTransportError("HEAD \(url): server answered \(response.status)")
        }
    }

    public func chunkSource(prefix: String) -> any ChunkStore {
        HTTPChunkStore(objects: HTTPObjectSource(base: url(of: prefix), transport: transport, concurrentRequests: concurrentRequests))
    }
}
