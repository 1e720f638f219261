import CairnIO

extension TarTree {
    /// Walks the headers of an archive, folding GNU long names and PAX records into the entry
    /// they describe.
    struct Reader {
        let archive: File
        let archivePath: [UInt8]
        let size: UInt64
        var offset: UInt64 = 0

        init(archive: File, archivePath: [UInt8], size: UInt64) {
            (self.archive, self.archivePath, self.size) = (archive, archivePath, size)
        }

        mutating func next(globals: inout [String: [UInt8]]) throws -> Entry? {
            var longName: [UInt8]?
            var longLink: [UInt8]?
            var pax = [String: [UInt8]]()
            while true {
                guard offset + 512 <= size else {
                    if offset == size { return nil }  // no end-of-archive blocks: tolerated, as GNU tar does
                    throw TarError("the archive ends inside the header at byte \(offset)")
                }
                guard let header = try archive.read(exactly: 512, at: offset) else { throw TarError("cannot read the header at byte \(offset)") }
                let headerOffset = offset
                if header.allSatisfy({ $0 == 0 }) { return nil }
                try verifyChecksum(header, at: headerOffset)
                let type = header[156]
                let headerSize = try Self.number(header[124..<136], field: "size", at: headerOffset)
                // A PAX size replaces the header's (which may be 0 for files of 8 GiB and more).
                let isMeta = [UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g")].contains(type)
                var entrySize = headerSize
                if !isMeta, let value = pax["size"] {
                    guard let paxSize = UInt64(String(decoding: value, as: UTF8.self)) else {
                        throw TarError("the PAX size of the entry at byte \(headerOffset) is not a number")
                    }
                    entrySize = paxSize
                }
                let dataOffset = offset + 512
                guard entrySize <= size - dataOffset else {
                    throw TarError("the entry at byte \(headerOffset) claims \(entrySize) bytes, past the end of the archive")
                }
                // Members are padded to 512 bytes; the padding of the last one may be missing.
                offset = min(size, dataOffset + (entrySize + 511) / 512 * 512)
                switch type {
                case UInt8(ascii: "L"), UInt8(ascii: "K"):
                    let value = Array(try read(entrySize, at: dataOffset, limit: 1 << 20).prefix { $0 != 0 })
                    if type == UInt8(ascii: "L") { longName = value } else { longLink = value }
                    continue
                case UInt8(ascii: "x"), UInt8(ascii: "g"):
                    let records = try Self.paxRecords(try read(entrySize, at: dataOffset, limit: 16 << 20), at: headerOffset)
                    if type == UInt8(ascii: "x") { pax.merge(records) { $1 } } else { globals.merge(records) { $1 } }
                    continue
                case UInt8(ascii: "S"):
                    throw TarError("the entry at byte \(headerOffset) is a sparse file, which is not supported")
                default:
                    break
                }
                let fields = globals.merging(pax) { $1 }
                var path = longName ?? Self.string(header[0..<100])
                let magic = Array(header[257..<263])
                if magic == Array("ustar\0".utf8) {
                    let prefix = Self.string(header[345..<500])
                    if !prefix.isEmpty { path = prefix + [UInt8(ascii: "/")] + path }
                }
                if let value = fields["path"] { path = value }
                var entry = Entry(
                    path: path, type: type, mode: 0,
                    uid: UInt32(truncatingIfNeeded: try Self.number(header[108..<116], field: "uid", at: headerOffset)),
                    gid: UInt32(truncatingIfNeeded: try Self.number(header[116..<124], field: "gid", at: headerOffset)),
                    size: entrySize,
                    mtime: FileNode.Timestamp(seconds: try Self.seconds(header[136..<148], at: headerOffset), nanoseconds: 0),
                    linkName: longLink ?? Self.string(header[157..<257]),
                    rdev: 0, dataOffset: dataOffset, xattrs: [], headerOffset: headerOffset, archive: archivePath)
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
                if kind != .regular || type == UInt8(ascii: "1") {
                    entry.size = type == UInt8(ascii: "1") || kind != .regular ? 0 : entry.size
                }
                return entry
            }
        }

        private func read(_ count: UInt64, at offset: UInt64, limit: Int) throws -> [UInt8] {
            guard count <= UInt64(limit) else { throw TarError("an extended header at byte \(offset - 512) is \(count) bytes, more than \(limit)") }
            guard let bytes = try archive.read(exactly: Int(count), at: offset) else { throw TarError("the archive ends inside the data at byte \(offset)") }
            return bytes
        }

        private func verifyChecksum(_ header: [UInt8], at offset: UInt64) throws {
            let stored = (try? Self.number(header[148..<156], field: "checksum", at: offset)) ?? UInt64.max
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

        private func applyPax(_ fields: [String: [UInt8]], to entry: inout Entry) throws {
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
}
