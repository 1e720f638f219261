/// The feature-flags word of a casync index header (casync.md §2.3).
public struct FeatureFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    static let with16BitUIDs = FeatureFlags(rawValue: 0x1)
    static let with32BitUIDs = FeatureFlags(rawValue: 0x2)
    static let withSecTime = FeatureFlags(rawValue: 0x8)
    static let withUSecTime = FeatureFlags(rawValue: 0x10)
    static let withNSecTime = FeatureFlags(rawValue: 0x20)
    static let with2SecTime = FeatureFlags(rawValue: 0x40)
    static let withReadOnly = FeatureFlags(rawValue: 0x80)
    static let withPermissions = FeatureFlags(rawValue: 0x100)
    static let withFlagNoDump = FeatureFlags(rawValue: 0x100000)
    static let withSubvolume = FeatureFlags(rawValue: 0x4000000)
    static let withSubvolumeRO = FeatureFlags(rawValue: 0x8000000)
    static let withACL = FeatureFlags(rawValue: 0x20000000)
    public static let excludeFile = FeatureFlags(rawValue: 0x1000000000000000)
    public static let sha512_256 = FeatureFlags(rawValue: 0x2000000000000000)
    public static let excludeSubmounts = FeatureFlags(rawValue: 0x4000000000000000)
    public static let excludeNoDump = FeatureFlags(rawValue: 0x8000000000000000)

    /// Every bit casync knows (`CA_FORMAT_FEATURE_FLAGS_MAX`).
    static let known = FeatureFlags(rawValue: 0xF000_0001_FFFF_FFFF)

    /// What `casync make` writes for a blob with the given digest: 0xb000… or 0x9000….
    public static func blobDefault(digest: DigestAlgorithm) -> FeatureFlags {
        var flags: FeatureFlags = [.excludeNoDump, .excludeFile]
        if digest == .sha512_256 { flags.insert(.sha512_256) }
        return flags
    }

    /// The digest that names this index's chunks.
    public var digest: DigestAlgorithm { contains(.sha512_256) ? .sha512_256 : .sha256 }

    /// Why casync would refuse these flags, or nil when it accepts them (`ca_feature_flags_normalize`).
    var problem: String? {
        if !subtracting(.known).isEmpty {
            return "unknown feature flag bits 0x\(String(subtracting(.known).rawValue, radix: 16))"
        }
        func both(_ a: FeatureFlags, _ b: FeatureFlags) -> Bool { !isDisjoint(with: a) && !isDisjoint(with: b) }
        let conflicts: [(FeatureFlags, FeatureFlags)] = [
            (.withNSecTime, [.withUSecTime, .withSecTime, .with2SecTime]),
            (.withUSecTime, [.withSecTime, .with2SecTime]),
            (.withSecTime, .with2SecTime),
            (.with16BitUIDs, .with32BitUIDs),
            (.withPermissions, .withReadOnly),
            (.withACL, [.withPermissions, .withReadOnly]),
            (.excludeNoDump, .withFlagNoDump),
        ]
        if conflicts.contains(where: both) || (contains(.withACL) && isDisjoint(with: [.with16BitUIDs, .with32BitUIDs]))
            || (contains(.withSubvolumeRO) && !contains(.withSubvolume))
        {
            return "feature flags 0x\(String(rawValue, radix: 16)) are not normalized"
        }
        return nil
    }
}
