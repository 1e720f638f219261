import Foundation

/// A repository's `meta.json` (reference/composefs.md §1.2), fixed when the repository is made:
/// format version, object digest algorithm, feature flags and the EROFS formats its images use.
public struct RepositoryMetadata: Equatable, Sendable {
    /// The repository format version this code reads and writes.
    public static let formatVersion = 1
    /// Features this code knows; `v1_erofs` (read-only-compatible) marks V1 images. Unknown
    /// compatible features are ignored, so there is no list of them.
    static let knownReadOnlyCompatible: Set<String> = ["v1_erofs"]
    static let knownIncompatible: Set<String> = []

    public var version = RepositoryMetadata.formatVersion
    public var algorithm: FsVerityAlgorithm
    public var compatible: [String] = []
    public var readOnlyCompatible: [String] = []
    public var incompatible: [String] = []
    /// The image format written by default (0, 1 or 2) and any others written beside it.
    public var defaultFormat: UInt32
    public var extraFormats: [UInt32] = []

    /// A new repository's metadata: SHA-512 and V1 images by default, as bootc.
    public init(algorithm: FsVerityAlgorithm = .sha512, defaultFormat: UInt32 = 1) {
        (self.algorithm, self.defaultFormat) = (algorithm, defaultFormat)
        if defaultFormat == 1 { readOnlyCompatible = ["v1_erofs"] }
    }

    /// Features this code does not know that forbid writing (reading is still fine).
    public var unknownReadOnlyFeatures: [String] { readOnlyCompatible.filter { !Self.knownReadOnlyCompatible.contains($0) } }

    var summary: String { "fsverity-\(algorithm)-12, EROFS format \(defaultFormat)" + (extraFormats.isEmpty ? "" : " plus \(extraFormats.map(String.init).joined(separator: ", "))") }

    /// composefs-rs's bytes: serde_json's pretty printing (two spaces) and a final newline.
    public func json() -> [UInt8] {
        func list(_ items: [String]) -> String {
            items.isEmpty ? "[]" : "[\n" + items.map { "      \"\($0)\"" }.joined(separator: ",\n") + "\n    ]"
        }
        var formats = "    \"default\": \(defaultFormat)"
        if !extraFormats.isEmpty {
            formats += ",\n    \"extra\": [\n" + extraFormats.sorted().map { "      \($0)" }.joined(separator: ",\n") + "\n    ]"
        }
        let text = """
            {
              "version": \(version),
              "algorithm": "fsverity-\(algorithm)-12",
              "features": {
                "compatible": \(list(compatible)),
                "read-only-compatible": \(list(readOnlyCompatible)),
                "incompatible": \(list(incompatible))
              },
              "erofs_formats": {
            \(formats)
              }
            }

            """
        return Array(text.utf8)
    }

    private struct Document: Decodable {
        struct Features: Decodable {
            var compatible: [String]?
            var readOnlyCompatible: [String]?
            var incompatible: [String]?
            enum CodingKeys: String, CodingKey {
                case compatible, incompatible
                case readOnlyCompatible = "read-only-compatible"
            }
        }
        struct Formats: Decodable {
            var `default`: UInt32
            var extra: [UInt32]?
        }
        var version: Int
        var algorithm: String
        var features: Features?
        var erofs_formats: Formats?
    }

    /// Parses `meta.json` (read from `path`, named in errors), refusing what this code cannot use.
    public init(json bytes: [UInt8], path: String) throws {
        let document: Document
        do { document = try JSONDecoder().decode(Document.self, from: Data(bytes)) } catch {
            throw RepositoryError("\(path) is not valid repository metadata: \(error)")
        }
        guard document.version <= Self.formatVersion else {
            throw RepositoryError("\(path) has repository format version \(document.version); cairn knows up to \(Self.formatVersion)")
        }
        let parts = document.algorithm.split(separator: "-")
        guard parts.count == 3, parts[0] == "fsverity", let algorithm = FsVerityAlgorithm.allCases.first(where: { "\($0)" == parts[1] }) else {
            throw RepositoryError("\(path) names the algorithm '\(document.algorithm)', which is not fsverity-sha256-12 or fsverity-sha512-12")
        }
        guard parts[2] == "12" else { throw RepositoryError("\(path) uses fs-verity blocks of 2^\(parts[2]) bytes; only 4096 (12) is supported") }
        self.algorithm = algorithm
        version = document.version
        compatible = document.features?.compatible ?? []
        readOnlyCompatible = document.features?.readOnlyCompatible ?? []
        incompatible = document.features?.incompatible ?? []
        let unknown = incompatible.filter { !Self.knownIncompatible.contains($0) }
        guard unknown.isEmpty else {
            throw RepositoryError("\(path) needs features cairn does not know: \(unknown.joined(separator: ", "))")
        }
        // Without the field: V1 when flagged `v1_erofs`, else V2 (repositories before 2026).
        defaultFormat = document.erofs_formats?.default ?? (readOnlyCompatible.contains("v1_erofs") ? 1 : 2)
        extraFormats = (document.erofs_formats?.extra ?? []).filter { $0 != defaultFormat }
        guard ([defaultFormat] + extraFormats).allSatisfy({ $0 <= 2 }) else {
            throw RepositoryError("\(path) asks for EROFS formats \(([defaultFormat] + extraFormats).map(String.init).joined(separator: ", ")); cairn knows 0, 1 and 2")
        }
    }
}
