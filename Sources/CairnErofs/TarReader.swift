import CairnIO

/// Where a `TarReader` gets its bytes: an archive file read in place, a stream being split into
/// a repository, or a splitstream being read back.
public protocol TarSource {
    /// Bytes consumed so far (header offsets in messages).
    var offset: UInt64 { get }
    /// The next `count` bytes; nil if the source ends exactly here; an error if it ends inside them.
    mutating func read(_ count: Int) throws -> [UInt8]?
    /// Passes over `entry`'s data (`entry.size` bytes, or `size` for a hard link or a special
    /// file that carries some) and its padding to 512 bytes, which may be missing at the very end.
    mutating func data(_ size: UInt64, of entry: TarEntry) throws -> TarData
}

/// Where an entry's data is.
public enum TarData: Equatable, Sendable {
    case none
    /// At this offset of the archive file.
    case archive(offset: UInt64)
    /// These bytes (small files kept inline in a splitstream).
    case inline([UInt8])
    /// The repository object with this digest.
    case object([UInt8])
}

/// One member of a tar archive, with GNU long names and PAX records folded in.
public struct TarEntry: Sendable {
    public var path: [UInt8]
    /// The typeflag byte (`0`, `5`, `1`, `2`, …).
    public var type: UInt8
    /// Full `st_mode`: the type this entry makes and the permission bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Data bytes of a regular file (0 for every other type, hard links included).
    public var size: UInt64
    public var mtime: FileNode.Timestamp
    public var linkName: [UInt8]
    /// `st_rdev` in glibc's encoding (devices only).
    public var rdev: UInt64
    public var xattrs: [FileNode.Xattr]
    public var headerOffset: UInt64
    public var data = TarData.none

    public var isHardLink: Bool { type == UInt8(ascii: "1") }

    /// The largest data size an entry may claim (2^62: room to pad and add without overflow).
    public static let largestSize: UInt64 = 1 << 62

    /// `size` rounded up to whole 512-byte tar blocks (`size` at most `largestSize`).
    public static func padded(_ size: UInt64) -> UInt64 { (size + 511) / 512 * 512 }
    public var fileType: FileType { FileType(mode: mode) }
}

/// Walks the headers of a tar archive (ustar, GNU long names and links, PAX with
/// `SCHILY.xattr.*`), folding extension headers into the entry they describe. A sparse file,
/// a damaged header or an unknown type is an error naming the header's offset.
public struct TarReader<Source: TarSource> {
    public var source: Source
    private var globals = [String: [UInt8]]()

    public init(_ source: Source) { self.source = source }

    /// The next entry, or nil at the end-of-archive block (or where the source ends cleanly).
    public mutating func next() throws -> TarEntry? {
        var longName: [UInt8]?
        var longLink: [UInt8]?
        var pax = [String: [UInt8]]()
        while true {
            let headerOffset = source.offset
            guard let header = try source.read(512) else { return nil }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            try Self.verifyChecksum(header, at: headerOffset)
            let type = header[156]
            let headerSize = try Self.number(header[124..<136], field: "size", at: headerOffset)
            // A PAX size replaces the header's (which may be 0 for files of 8 GiB and more).
            var entrySize = headerSize
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                let value = Array(try extensionData(entrySize, at: headerOffset, limit: 1 << 20).prefix { $0 != 0 })
                if type == UInt8(ascii: "L") { longName = value } else { longLink = value }
                continue
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let records = try Self.paxRecords(try extensionData(entrySize, at: headerOffset, limit: 16 << 20), at: headerOffset)
                if type == UInt8(ascii: "x") { pax.merge(records) { $1 } } else { globals.merge(records) { $1 } }
                continue
            case UInt8(ascii: "S"):
                throw TarError("the entry at byte \(headerOffset) is a sparse file, which is not supported")
            default:
                break
            }
            if let value = pax["size"] {
                guard let paxSize = UInt64(String(decoding: value, as: UTF8.self)) else {
                    throw TarError("the PAX size of the entry at byte \(headerOffset) is not a number")
                }
                entrySize = paxSize
            }
            let fields = globals.merging(pax) { $1 }
            var path = longName ?? Self.string(header[0..<100])
            let magic = Array(header[257..<263])
            if magic == Array("ustar\0".utf8) {
                let prefix = Self.string(header[345..<500])
                if !prefix.isEmpty { path = prefix + [UInt8(ascii: "/")] + path }
            }
            if let value = fields["path"] { path = value }
            var entry = TarEntry(
                path: path, type: type, mode: 0,
                uid: UInt32(truncatingIfNeeded: try Self.number(header[108..<116], field: "uid", at: headerOffset)),
                gid: UInt32(truncatingIfNeeded: try Self.number(header[116..<124], field: "gid", at: headerOffset)),
                size: entrySize,
                mtime: FileNode.Timestamp(seconds: try Self.seconds(header[136..<148], at: headerOffset), nanoseconds: 0),
                linkName: longLink ?? Self.string(header[157..<257]),
                rdev: 0, xattrs: [], headerOffset: headerOffset)
            let permissions = UInt32(truncatingIfNeeded: try Self.number(header[100..<108], field: "mode", at: headerOffset)) & 0o7777
            let kind: FileType
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"), UInt8(ascii: "1"): kind = .regular
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: throw TarError(entry, "has type '\(Character(UnicodeScalar(type)))', which cairn does not know")
            }
            entry.mode = kind.modeBits | permissions
            if kind == .characterDevice || kind == .blockDevice {
                let major = try Self.number(header[329..<337], field: "devmajor", at: headerOffset)
                let minor = try Self.number(header[337..<345], field: "devminor", at: headerOffset)
                // glibc's makedev encoding, as st_rdev holds it.
                entry.rdev = (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12) | ((major & ~0xFFF) << 32)
            }
            try applyPax(fields, to: &entry)
            guard entrySize <= TarEntry.largestSize else { throw TarError(entry, "claims \(entrySize) bytes, more than any archive holds") }
            if kind != .regular || entry.isHardLink { entry.size = 0 }
            entry.data = try source.data(entrySize, of: entry)
            return entry
        }
    }

    /// An extension header's data (long name, PAX records), bounded before it is read.
    private mutating func extensionData(_ count: UInt64, at headerOffset: UInt64, limit: Int) throws -> [UInt8] {
        guard count <= UInt64(limit) else { throw TarError("an extended header at byte \(headerOffset) is \(count) bytes, more than \(limit)") }
        let padded = Int(TarEntry.padded(count))
        guard let bytes = try source.read(padded) else { throw TarError("the archive ends after the extended header at byte \(headerOffset)") }
        return Array(bytes.prefix(Int(count)))
    }

    private static func verifyChecksum(_ header: [UInt8], at offset: UInt64) throws {
        let stored = (try? number(header[148..<156], field: "checksum", at: offset)) ?? UInt64.max
        var unsigned: UInt64 = 0
        var signed: Int64 = 0
        for (index, byte) in header.enumerated() {
            let value = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += UInt64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || Int64(bitPattern: stored) == signed else {
            throw TarError("the header at byte \(offset) has a bad checksum (not a tar archive, or damaged)")
        }
    }

    private func applyPax(_ fields: [String: [UInt8]], to entry: inout TarEntry) throws {
        func decimal(_ key: String) throws -> UInt64? {
            guard let value = fields[key] else { return nil }
            guard let number = UInt64(String(decoding: value, as: UTF8.self)) else { throw TarError(entry, "has a PAX \(key) that is not a number") }
            return number
        }
        if let uid = try decimal("uid") { entry.uid = UInt32(truncatingIfNeeded: uid) }
        if let gid = try decimal("gid") { entry.gid = UInt32(truncatingIfNeeded: gid) }
        if let link = fields["linkpath"] { entry.linkName = link }
        if let mtime = fields["mtime"] {
            let parts = String(decoding: mtime, as: UTF8.self).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, let seconds = Int64(first) else { throw TarError(entry, "has a PAX mtime that is not a number") }
            var nanoseconds: UInt32 = 0
            if parts.count == 2 {
                let digits = String(parts[1].prefix(9))
                nanoseconds = (UInt32(digits) ?? 0) * UInt32(pow10(9 - digits.count))
            }
            entry.mtime = FileNode.Timestamp(seconds: seconds, nanoseconds: nanoseconds)
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where key.hasPrefix("SCHILY.xattr.") {
            entry.xattrs.append(FileNode.Xattr(name: Array(key.utf8.dropFirst("SCHILY.xattr.".utf8.count)), value: value))
        }
    }

    private func pow10(_ exponent: Int) -> Int { (0..<exponent).reduce(1) { result, _ in result * 10 } }

    /// PAX records: "LENGTH KEY=VALUE\\n", LENGTH counting the whole record.
    static func paxRecords(_ bytes: [UInt8], at offset: UInt64) throws -> [String: [UInt8]] {
        var records = [String: [UInt8]]()
        var position = 0
        while position < bytes.count {
            guard let space = bytes[position...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: bytes[position..<space], as: UTF8.self)), length > space - position,
                  length <= bytes.count - position, bytes[position + length - 1] == UInt8(ascii: "\n"),
                  let equals = bytes[(space + 1)..<(position + length)].firstIndex(of: UInt8(ascii: "="))
            else { throw TarError("the PAX header at byte \(offset) is malformed") }
            records[String(decoding: bytes[(space + 1)..<equals], as: UTF8.self)] = Array(bytes[(equals + 1)..<(position + length - 1)])
            position += length
        }
        return records
    }

    static func seconds(_ field: ArraySlice<UInt8>, at offset: UInt64) throws -> Int64 {
        guard let seconds = Int64(exactly: try number(field, field: "mtime", at: offset)) else {
            throw TarError("the mtime of the header at byte \(offset) is out of range")
        }
        return seconds
    }

    /// NUL-terminated text of a header field.
    static func string(_ field: ArraySlice<UInt8>) -> [UInt8] { Array(field.prefix { $0 != 0 }) }

    /// An octal field (spaces and NULs around it), or GNU's base-256 for large values.
    static func number(_ field: ArraySlice<UInt8>, field name: String, at offset: UInt64) throws -> UInt64 {
        if let first = field.first, first & 0x80 != 0 {
            guard first == 0x80 else { throw TarError("the \(name) field of the header at byte \(offset) is negative") }
            var value: UInt64 = 0
            for byte in field.dropFirst() {
                guard value >> 56 == 0 else { throw TarError("the \(name) field of the header at byte \(offset) overflows") }
                value = value << 8 | UInt64(byte)
            }
            return value
        }
        let digits = field.drop { $0 == UInt8(ascii: " ") || $0 == 0 }.prefix { $0 != UInt8(ascii: " ") && $0 != 0 }
        if digits.isEmpty { return 0 }
        guard let value = UInt64(String(decoding: digits, as: UTF8.self), radix: 8) else {
            throw TarError("the \(name) field of the header at byte \(offset) is not an octal number")
        }
        return value
    }
}
