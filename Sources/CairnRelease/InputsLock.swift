import CairnStores

/// The inputs a build was made from, frozen (`cairn inputs lock BUILD > inputs.lock.json`): a
/// replay (`cairn publish --lock`) must be given exactly these, and can show it rebuilt the same
/// image (the lock keeps the image's digests).
public struct InputsLock: Codable, Sendable, Equatable {
    public static let currentSchema = "cairn.inputs-lock.v1"

    public var schema = Self.currentSchema
    public var build: String
    public var inputs: [String: String]
    public var image: ComposeManifest.Image

    public init(_ manifest: ComposeManifest) {
        (build, inputs, image) = (manifest.build.id, manifest.inputs, manifest.image)
    }

    public init(decoding bytes: [UInt8], file: String) throws(ReleaseError) {
        self = try ReleaseJSON.decode(InputsLock.self, from: bytes, key: file)
        guard schema == Self.currentSchema else { throw .malformed(key: file, problem: "unknown schema \(schema)") }
    }

    public func encoded() throws -> [UInt8] { try ReleaseJSON.encode(self) }

    /// How `other` differs from `base`, one line per key: `- key=value` (only in base),
    /// `+ key=value` (only in other), `~ key: old -> new`; empty when they are the same.
    public static func differences(_ base: [String: String], _ other: [String: String]) -> [String] {
        Set(base.keys).union(other.keys).sorted().compactMap { key in
            switch (base[key], other[key]) {
            case (let old?, nil): "- \(key)=\(old)"
            case (nil, let new?): "+ \(key)=\(new)"
            case (let old?, let new?) where old != new: "~ \(key): \(old) -> \(new)"
            default: nil
            }
        }
    }
}
