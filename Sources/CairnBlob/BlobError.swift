import CairnCasync

/// What went wrong in a blob-layer operation, naming the object at fault.
public enum BlobError: Error, CustomStringConvertible, Sendable {
    case malformedIndex(path: String, problem: String)
    case corruptChunk(id: ChunkID, store: String, problem: String)
    case missingChunks(ids: [ChunkID], stores: [String])
    case invalidInput(String)

    public var description: String {
        switch self {
        case .malformedIndex(let path, let problem):
            return "\(path) is not a valid casync index: \(problem)"
        case .corruptChunk(let id, let store, let problem):
            return "chunk \(id) in store \(store) is corrupt: \(problem)"
        case .missingChunks(let ids, let stores):
            let shown = ids.prefix(10).map(\.hex).joined(separator: ", ")
            let more = ids.count > 10 ? " and \(ids.count - 10) more" : ""
            let where_ = stores.isEmpty ? "(no store given)" : stores.joined(separator: ", ")
            return "\(ids.count) chunk\(ids.count == 1 ? " is" : "s are") missing from \(where_): \(shown)\(more)"
        case .invalidInput(let message):
            return message
        }
    }
}
