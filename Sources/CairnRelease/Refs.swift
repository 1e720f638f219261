import CairnStores

/// Reading and moving `refs/<ref>/latest.json`.
public enum Refs {
    /// The ref's pointer and the ETag a compare-and-swap names, or nil for a ref never published.
    public static func read(_ ref: String, layout: BucketLayout, from source: any ObjectSource) async throws -> (pointer: RefPointer, etag: String)? {
        let key = layout.latest(ref)
        guard let object = try await source.get(key) else { return nil }
        return (try RefPointer(decoding: object.bytes, key: key), object.etag)
    }

    /// The pointer of a ref that must exist: a missing one is an error naming its key.
    public static func current(_ ref: String, layout: BucketLayout, from source: any ObjectSource) async throws -> RefPointer {
        guard let (pointer, _) = try await read(ref, layout: layout, from: source) else {
            throw ReleaseError.missing(key: layout.latest(ref), store: source.description)
        }
        return pointer
    }

    /// How often a move that lost a compare-and-swap re-reads the ref and tries again.
    static let attempts = 10

    /// Moves the ref to `build` by compare-and-swap, starting from `current` as read earlier. A
    /// writer that loses re-reads and moves the ref on top of the winner, so no update is lost.
    /// Returns false when the ref already names the build, or `shouldMove` declines to move it
    /// from the build it names (asked again after every lost race).
    public static func move(
        _ ref: String, to build: String, layout: BucketLayout, in bucket: any ObjectStore,
        current: (pointer: RefPointer, etag: String)?, action: String, actor: String?,
        shouldMove: (RefPointer) async throws -> Bool = { _ in true }
    ) async throws -> Bool {
        var current = current
        let key = layout.latest(ref)
        for _ in 0..<attempts {
            if current?.pointer.build == build { return false }
            if let pointer = current?.pointer, try await !shouldMove(pointer) { return false }
            let next = RefPointer.moving(
                current?.pointer, ref: ref, to: build, layout: layout, action: action, actor: actor,
                at: UTCTime.iso8601(epochSeconds: UTCTime.now()))
            if try await bucket.put(key, bytes: next.encoded(), condition: current.map { .matching(etag: $0.etag) } ?? .absent) {
                return true
            }
            current = try await read(ref, layout: layout, from: bucket)
        }
        throw ReleaseError.integrity("\(key) in \(bucket) kept changing under \(attempts) attempts to move it to \(build); it was not moved")
    }
}
