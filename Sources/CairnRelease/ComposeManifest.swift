import CairnCasync
import CairnStores
import FoundationEssentials

/// The immutable record of one published build (`casync/manifests/<build>.json`), documented in
/// docs/formats.md. JSON keys are snake_case, as the seed's shell tooling reads them.
public struct ComposeManifest: Codable, Sendable, Equatable {
    public static let currentSchema = "cairn.compose-manifest.v1"

    public struct Build: Codable, Sendable, Equatable {
        public var id: String
        public var run: String
        public var attempt: String
        public var sha: String
    }

    public struct Image: Codable, Sendable, Equatable {
        public var key: String
        public var size: UInt64
        public var sha256: String
        /// SHA-512/256 of the image, as `casync digest` prints it.
        public var casyncDigest: String
    }

    public struct Index: Codable, Sendable, Equatable {
        public var key: String
        public var sha256: String
        /// `MIN:AVG:MAX` in bytes.
        public var chunkSize: String
        public var digest: String
        public var chunks: Int
        public var uniqueChunks: Int
    }

    public var schema = Self.currentSchema
    public var build: Build
    /// The ref the build was published to.
    public var ref: String
    public var image: Image
    public var index: Index
    public var dedupe: DedupeFigures
    /// Build inputs given with `--input k=v` or `--inputs FILE` (kernel version, base image digest…).
    public var inputs: [String: String]
    public var tool: String
    /// The build the ref pointed at before this one, if any.
    public var parent: String?

    /// Whether `other` records the same build of the same bytes. Dedupe figures, ref and parent
    /// depend on when a build is published, so a re-run may differ in those and still match.
    public func describesSameBuild(as other: ComposeManifest) -> Bool {
        build == other.build && image == other.image && index == other.index
    }

    public func encoded() throws -> [UInt8] { try ReleaseJSON.encode(self) }

    public init(decoding bytes: [UInt8], key: String) throws(ReleaseError) {
        self = try ReleaseJSON.decode(ComposeManifest.self, from: bytes, key: key)
        guard schema == Self.currentSchema else { throw .malformed(key: key, problem: "unknown schema \(schema)") }
    }

    public init(build: Build, ref: String, image: Image, index: Index, dedupe: DedupeFigures, inputs: [String: String], tool: String, parent: String?) {
        (self.build, self.ref, self.image, self.index, self.dedupe, self.inputs, self.tool, self.parent) =
            (build, ref, image, index, dedupe, inputs, tool, parent)
    }
}

extension ComposeManifest {
    /// The manifest of `build` in `source`, or nil if there is none.
    public static func read(_ build: String, layout: BucketLayout, from source: any ObjectSource) async throws -> ComposeManifest? {
        let key = layout.manifest(build)
        guard let object = try await source.get(key) else { return nil }
        return try ComposeManifest(decoding: object.bytes, key: key)
    }

    /// The build's index from `source`, checked against the SHA-256 this manifest records.
    public func index(from source: any ObjectSource) async throws -> BlobIndex {
        guard let object = try await source.get(index.key) else {
            throw ReleaseError.missing(key: index.key, store: source.description)
        }
        guard DigestAlgorithm.sha256.hash(object.bytes).hex == index.sha256 else {
            throw ReleaseError.integrity("\(index.key) in \(source) does not have the SHA-256 its manifest records")
        }
        do {
            return try BlobIndex(decoding: object.bytes)
        } catch {
            throw ReleaseError.malformed(key: index.key, problem: error.description)
        }
    }
}

/// How much of a build was new to the bucket: sizes are of uncompressed chunk data, counted once
/// per unique chunk.
public struct DedupeFigures: Codable, Sendable, Equatable {
    public var newBytes: UInt64 = 0
    public var reusedBytes: UInt64 = 0
    public var newChunks = 0
    public var reusedChunks = 0
    /// What was compared against: the bucket's chunk store, or the local cache in a dry run.
    public var measuredAgainst: String

    public init(measuredAgainst: String) { self.measuredAgainst = measuredAgainst }
}

/// Deterministic JSON for everything the release layer writes: sorted snake_case keys.
enum ReleaseJSON {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], key: String) throws(ReleaseError) -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch {
            throw .malformed(key: key, problem: "\(error)")
        }
    }
}
