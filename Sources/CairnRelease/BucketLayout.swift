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

    private func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    public var chunks: String { key("casync/chunks") }
    public func index(_ build: String) -> String { key("casync/indexes/compose-\(build).caibx") }
    public func manifest(_ build: String) -> String { key("casync/manifests/\(build).json") }
    public func latest(_ ref: String) -> String { key("casync/refs/\(ref)/latest.json") }
    public func image(_ build: String) -> String { key("images/\(build).ero") }
    public var refs: String { key("casync/refs/") }
}
