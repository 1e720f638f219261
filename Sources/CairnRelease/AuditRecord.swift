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
    /// `promoted`, `refused` (a gate failed), `unchanged` (the target named the build already);
    /// `promoting` in the intent record written just before a move.
    public var outcome: String
    public var gates: [GateResult]
    public var actor: String?
    /// ISO 8601 UTC.
    public var time: String

    public func encoded() throws -> [UInt8] { try ReleaseJSON.encode(self) }

    static let intentOutcome = "promoting"
    /// What `log` calls an intent no final record follows: the process stopped between the two,
    /// and the ref's lineage says whether the move happened.
    public static let interruptedOutcome = "interrupted"

    static func key(layout: BucketLayout, channel: String, stamp: String, build: String) -> String {
        layout.audit(channel) + channel + "-" + stamp + "-" + build + ".json"
    }

    static func intentKey(_ key: String) -> String { String(key.dropLast(".json".count)) + ".intent.json" }

    /// Every record of `channel`, oldest first: final records, and intents no final record
    /// followed (as `interrupted`).
    public static func log(_ channel: String, layout: BucketLayout, in source: any ObjectStore) async throws -> [AuditRecord] {
        let keys = Set(try await source.list(prefix: layout.audit(channel)).map(\.key).filter { $0.hasSuffix(".json") })
        var records = [AuditRecord]()
        for key in keys where !(key.hasSuffix(".intent.json") && keys.contains(String(key.dropLast(".intent.json".count)) + ".json")) {
            guard let stored = try await source.get(key) else { continue }
            var record = try ReleaseJSON.decode(AuditRecord.self, from: stored.bytes, key: key)
            guard record.schema == currentSchema else { throw ReleaseError.malformed(key: key, problem: "unknown schema \(record.schema)") }
            if key.hasSuffix(".intent.json") { record.outcome = interruptedOutcome }
            records.append(record)
        }
        return records.sorted { ($0.time, $0.build) < ($1.time, $1.build) }
    }
}
