/// A ref's mutable pointer (`casync/refs/<ref>/latest.json`): the build it names now and the
/// builds it named before, newest first. It moves only by compare-and-swap, and only to a build
/// whose parts are all in the bucket.
public struct RefPointer: Codable, Sendable, Equatable {
    public static let currentSchema = "cairn.ref.v1"
    /// How many earlier entries the lineage keeps.
    public static let historyLimit = 100

    public struct Entry: Codable, Sendable, Equatable {
        public var build: String
        public var manifest: String
        /// ISO 8601 UTC.
        public var updated: String
        /// `publish`, or `set` when a person moved the ref.
        public var action: String
        public var actor: String?
    }

    public var schema = Self.currentSchema
    public var ref: String
    /// The current build, with its manifest, index and image keys for readers that do not parse manifests.
    public var build: String
    public var manifest: String
    public var index: String
    public var image: String
    public var updated: String
    /// The build the ref named before this one.
    public var previous: String?
    /// Every move, the current one first.
    public var history: [Entry]

    /// The pointer after moving `current` (nil for a new ref) to `build`.
    public static func moving(
        _ current: RefPointer?, ref: String, to build: String, layout: BucketLayout, action: String, actor: String?, at time: String
    ) -> RefPointer {
        let entry = Entry(build: build, manifest: layout.manifest(build), updated: time, action: action, actor: actor)
        return RefPointer(
            ref: ref, build: build, manifest: layout.manifest(build), index: layout.index(build), image: layout.image(build),
            updated: time, previous: current?.build, history: Array(([entry] + (current?.history ?? [])).prefix(historyLimit)))
    }

    public func encoded() throws -> [UInt8] { try ReleaseJSON.encode(self) }

    public init(decoding bytes: [UInt8], key: String) throws(ReleaseError) {
        self = try ReleaseJSON.decode(RefPointer.self, from: bytes, key: key)
        guard schema == Self.currentSchema else { throw .malformed(key: key, problem: "unknown schema \(schema)") }
    }

    init(ref: String, build: String, manifest: String, index: String, image: String, updated: String, previous: String?, history: [Entry]) {
        (self.ref, self.build, self.manifest, self.index, self.image, self.updated, self.previous, self.history) =
            (ref, build, manifest, index, image, updated, previous, history)
    }
}
