import CairnCasync
import CairnStores

/// Lets a reader of a bucket start before every chunk it needs is uploaded: a fetch of a chunk
/// still on its way waits until the upload lands (or fails).
actor UploadGate {
    private var pending: Set<ChunkID>
    private var waiting: [ChunkID: [CheckedContinuation<Void, any Error>]] = [:]
    private var failure: (any Error)?

    init(pending: some Sequence<ChunkID>) { self.pending = Set(pending) }

    func wait(for id: ChunkID) async throws {
        if let failure { throw failure }
        guard pending.contains(id) else { return }
        // A cancelled reader (its publish failed elsewhere) must not wait for an upload that may
        // never come.
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiting[id, default: []].append($0) }
        } onCancel: {
            Task { await self.fail(CancellationError()) }
        }
    }

    func uploaded(_ id: ChunkID) {
        pending.remove(id)
        waiting.removeValue(forKey: id)?.forEach { $0.resume() }
    }

    /// The uploads stopped: every waiter, present and future, gets `error`.
    func fail(_ error: any Error) {
        if failure == nil { failure = error }
        let continuations = waiting.values.flatMap { $0 }
        waiting = [:]
        continuations.forEach { $0.resume(throwing: error) }
    }
}

/// A chunk source whose fetches wait at an upload gate first.
struct GatedChunkSource: ChunkStore {
    let source: any ChunkStore
    let gate: UploadGate

    var description: String { source.description }
    var concurrentRequests: Int { source.concurrentRequests }

    func fetch(_ id: ChunkID) async throws -> StoredChunk? {
        try await gate.wait(for: id)
        return try await source.fetch(id)
    }

    func contains(_ id: ChunkID) async throws -> Bool {
        try await gate.wait(for: id)
        return try await source.contains(id)
    }
}
