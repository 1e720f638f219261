import CairnCasync

/// A read-only chunk store behind an HTTP(S) base URL (a CDN, nginx, an R2 public bucket), with the
/// casync layout: `<base>/<4 hex>/<64 hex>.cacnk`.
public struct HTTPChunkStore: ChunkStore {
    public let objects: HTTPObjectSource

    public init(objects: HTTPObjectSource) { self.objects = objects }

    public init(base: String, transport: HTTPTransport = HTTPTransport(), concurrentRequests: Int = 16) {
        self.init(objects: HTTPObjectSource(base: base, transport: transport, concurrentRequests: concurrentRequests))
    }

    public var concurrentRequests: Int { objects.concurrentRequests }

    public var description: String { objects.description }

    func key(of id: ChunkID) -> String { "\(id.hex.prefix(4))/\(id.hex).cacnk" }

    public func fetch(_ id: ChunkID) async throws -> StoredChunk? {
        try await objects.get(key(of: id)).map { StoredChunk(bytes: $0.bytes, isCompressed: true) }
    }

    public func contains(_ id: ChunkID) async throws -> Bool {
        try await objects.exists(key(of: id))
    }
}
