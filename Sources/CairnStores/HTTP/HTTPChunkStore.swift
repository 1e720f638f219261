import AsyncHTTPClient
import CairnCasync
import NIOHTTP1

/// A read-only chunk store behind an HTTP(S) base URL (a CDN, nginx, an R2 public bucket), with the
/// casync layout: `<base>/<4 hex>/<64 hex>.cacnk`. 404 means missing; transient failures are
/// retried by the transport.
public struct HTTPChunkStore: ChunkStore {
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

    func url(of id: ChunkID) -> String {
        "\(base)/\(id.hex.prefix(4))/\(id.hex).cacnk"
    }

    public func fetch(_ id: ChunkID) async throws -> StoredChunk? {
        let url = url(of: id)
        let response = try await transport.send("GET \(url)") { HTTPClientRequest(url: url) }
        switch response.status {
        case 200: return StoredChunk(bytes: response.body, isCompressed: true)
        case 404: return nil
        default: throw HTTPTransportError("GET \(url): server answered \(response.status)")
        }
    }

    public func contains(_ id: ChunkID) async throws -> Bool {
        let url = url(of: id)
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
}
