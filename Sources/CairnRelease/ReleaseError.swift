/// What went wrong while publishing or pulling, naming the build, ref or object at fault.
public enum ReleaseError: Error, CustomStringConvertible, Sendable {
    case invalidInput(String)
    /// An immutable object already exists with other contents.
    case conflict(key: String, store: String, problem: String)
    case integrity(String)
    case missing(key: String, store: String)
    case malformed(key: String, problem: String)

    public var description: String {
        switch self {
        case .invalidInput(let message), .integrity(let message):
            return message
        case .conflict(let key, let store, let problem):
            return "\(key) in \(store) already exists with other contents: \(problem); immutable objects are never overwritten"
        case .missing(let key, let store):
            return "\(key) is missing from \(store)"
        case .malformed(let key, let problem):
            return "\(key) is not valid: \(problem)"
        }
    }
}
