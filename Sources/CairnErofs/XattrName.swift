/// EROFS stores an xattr name as a prefix index plus the rest of the name.
public enum XattrName {
    /// The short prefixes EROFS knows, in the order composefs tries them. Index 5 (`lustre.`) has
    /// no kernel handler and is never written.
    public static let prefixes: [(prefix: [UInt8], index: UInt8)] = [
        (Array("user.".utf8), 1),
        (Array("system.posix_acl_access".utf8), 2),
        (Array("system.posix_acl_default".utf8), 3),
        (Array("trusted.".utf8), 4),
        (Array("security.".utf8), 6),
    ]

    /// The prefix index and the rest of `name` (index 0 and the whole name when no prefix fits).
    public static func split(_ name: [UInt8]) -> (index: UInt8, suffix: ArraySlice<UInt8>) {
        for (prefix, index) in prefixes where name.starts(with: prefix) {
            return (index, name[prefix.count...])
        }
        return (0, name[...])
    }

    /// The full name of an entry read back from an image; nil for an index EROFS does not
    /// define. Index 0 (no prefix: the whole name is stored, as composefs does for names no
    /// prefix fits) and 5 (`lustre.`) are read although the kernel serves neither.
    public static func join(index: UInt8, suffix: some Collection<UInt8>) -> [UInt8]? {
        switch index {
        case 0: Array(suffix)
        case 5: Array("lustre.".utf8) + suffix
        default: prefixes.first(where: { $0.index == index }).map { $0.prefix + suffix }
        }
    }

    /// The bit of the inode's name filter (`h_name_filter`) that this name sets.
    public static func filterBit(_ name: [UInt8]) -> UInt32 {
        let (index, suffix) = split(name)
        return XXHash32.hash(suffix, seed: 0x25BB_E08F &+ UInt32(index)) & 31
    }
}
