/// Where each part of a build lives in the bucket, exactly as seed 000 lays it out:
///
///     <prefix>/casync/chunks/<4hex>/<64hex>.cacnk
///     <prefix>/casync/indexes/compose-<build>.caibx
///     <prefix>/casync/manifests/<build>.json
///     <prefix>/casync/refs/<ref>/latest.json
///     <prefix>/images/<build>.ero
public struct BucketLayout: Sendable, Equatable {
    /// No leading or trailing slash; "" for the root of the store.
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// One kind of per-build object: `<directory><namePrefix><build><suffix>`.
    public struct BuildObjects: Sendable, Equatable {
        public let directory: String
        let namePrefix: String
        let suffix: String

        public func key(_ build: String) -> String { directory + namePrefix + build + suffix }

        /// The build a key of this kind belongs to, or nil for another key.
        public func build(ofKey key: String) -> String? {
            guard key.hasPrefix(directory) else { return nil }
            let name = key.dropFirst(directory.count)
            guard !name.contains("/"), name.hasPrefix(namePrefix), name.hasSuffix(suffix), name.count > namePrefix.count + suffix.count else { return nil }
            return String(name.dropFirst(namePrefix.count).dropLast(suffix.count))
        }
    }

    private func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    public var chunks: String { key("casync/chunks") }
    public var manifests: BuildObjects { BuildObjects(directory: key("casync/manifests/"), namePrefix: "", suffix: ".json") }
    public var indexes: BuildObjects { BuildObjects(directory: key("casync/indexes/"), namePrefix: "compose-", suffix: ".caibx") }
    public var images: BuildObjects { BuildObjects(directory: key("images/"), namePrefix: "", suffix: ".ero") }
    public func manifest(_ build: String) -> String { manifests.key(build) }
    public func index(_ build: String) -> String { indexes.key(build) }
    public func image(_ build: String) -> String { images.key(build) }
    public func latest(_ ref: String) -> String { key("casync/refs/\(ref)/latest.json") }
    public var refs: String { key("casync/refs/") }
    /// Where promotion records of `channel` go (`casync/audit/<channel>/`).
    public func audit(_ channel: String) -> String { key("casync/audit/\(channel)/") }
}
