import CairnStores

/// What one promotion did (`casync/audit/<channel>/<channel>-<stamp>-<build>.json`), written once
/// with `If-None-Match: *` and never changed: the build, the refs, the build the target named
/// before, every gate's verdict, who and when.
public struct AuditRecord: Codable, Sendable, Equatable {
    public static let currentSchema = "cairn.audit.v1"

    public var schema = Self.currentSchema
    public var action = "promote"
    public var build: String
    public var from: String
    public var to: String
    public var previous: String?
    /// `promoted`, `refused` (a gate failed), or `unchanged` (the target named the build already).
    public var outcome: String
    public var gates: [GateResult]
    public var actor: String?
    /// ISO 8601 UTC.
    public var time: String

    public func encoded() throws -> [UInt8] { try ReleaseJSON.encode(self) }

    static func key(layout: BucketLayout, channel: String, stamp: String, build: String) -> String {
        layout.audit(channel) + channel + "-" + stamp + "-" + build + ".json"
    }

    /// Every record of `channel`, oldest first.
    public static func log(_ channel: String, layout: BucketLayout, in source: any ObjectStore) async throws -> [AuditRecord] {
        var records = [AuditRecord]()
        for object in try await source.list(prefix: layout.audit(channel)) where object.key.hasSuffix(".json") {
            guard let stored = try await source.get(object.key) else { continue }
            let record = try ReleaseJSON.decode(AuditRecord.self, from: stored.bytes, key: object.key)
            guard record.schema == currentSchema else { throw ReleaseError.malformed(key: object.key, problem: "unknown schema \(record.schema)") }
            records.append(record)
        }
        return records.sorted { ($0.time, $0.build) < ($1.time, $1.build) }
    }
}
