/// Bytes an image is read from: a file, or memory. Reads past the end are the caller's error.
public protocol ImageBytes: Sendable {
    var size: UInt64 { get }
    func read(_ count: Int, at offset: UInt64) throws -> [UInt8]
}

/// An image held in memory.
public struct MemoryImage: ImageBytes {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: UInt64 { UInt64(bytes.count) }
    public func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
        Array(bytes[Int(offset)..<(Int(offset) + count)])
    }
}

/// A safe EROFS reader for uncompressed images with 4 KiB blocks (what cairn and composefs
/// write, and mkfs.erofs without compression). Every offset and count is checked against the
/// image before it is used, so a corrupt or hostile image gets an `ErofsError` naming what is
/// wrong, never a crash, a hang or an allocation the image's size does not justify.
public struct ErofsImage: Sendable {
    public static let blockSize = 4096

    public struct Superblock: Sendable {
        public var featureCompat: UInt32
        public var featureIncompat: UInt32
        public var rootNid: UInt64
        public var inodeCount: UInt64
        public var buildTime: FileNode.Timestamp
        public var blocks: UInt32
        public var metaBlock: UInt32
        public var xattrBlock: UInt32
    }

    public enum Layout: UInt8, Sendable {
        case flatPlain = 0, flatInline = 2, chunkBased = 4
    }

    public struct Inode: Sendable {
        public let nid: UInt64
        public let mode: UInt32
        public let nlink: UInt32
        public let size: UInt64
        public let uid: UInt32
        public let gid: UInt32
        public let mtime: FileNode.Timestamp
        public let rdev: UInt64
        /// `i_ino`: a serial number the kernel does not use.
        public let serial: UInt32
        public let layout: Layout
        let union: UInt32
        let coreSize: Int
        let xattrSize: Int
        /// Byte offset of the inode in the image.
        let offset: UInt64

        public var fileType: FileType { FileType(mode: mode) }
        var tailOffset: UInt64 { offset + UInt64(coreSize + xattrSize) }
    }

    public struct Entry: Sendable {
        public let name: [UInt8]
        public let nid: UInt64
        public let fileType: UInt8
    }

    public let bytes: any ImageBytes
    public let superblock: Superblock
    /// Set for composefs images: the 32-byte header before the superblock.
    public let composefsVersion: UInt32?

    public init(_ bytes: any ImageBytes) throws(ErofsError) {
        self.bytes = bytes
        guard bytes.size >= 1024 + 128 else { throw .corrupt("the image is \(bytes.size) bytes, too small for a superblock") }
        let head = try Self.read(bytes, 1024 + 128, at: 0)
        var reader = LittleEndian(head)
        if reader.u32(at: 0) == 0xD078_629A {
            guard reader.u32(at: 4) == 1 else { throw .unsupported("composefs header version \(reader.u32(at: 4))") }
            composefsVersion = reader.u32(at: 12)
        } else {
            composefsVersion = nil
        }
        reader = LittleEndian(Array(head[1024...]))
        guard reader.u32(at: 0) == 0xE0F5_E1E2 else { throw .corrupt("no EROFS superblock (bad magic)") }
        guard reader.u8(at: 0x0C) == 12 else { throw .unsupported("block size 2^\(reader.u8(at: 0x0C)) (only 4096 is supported)") }
        let incompat = reader.u32(at: 0x50)
        guard incompat & ~0x4 == 0 else {
            throw .unsupported(incompat & 0x3 != 0 ? "compressed EROFS images" : "EROFS incompatible features 0x\(String(incompat, radix: 16))")
        }
        superblock = Superblock(
            featureCompat: reader.u32(at: 0x08), featureIncompat: incompat,
            rootNid: UInt64(reader.u16(at: 0x0E)), inodeCount: reader.u64(at: 0x10),
            buildTime: FileNode.Timestamp(seconds: Int64(bitPattern: reader.u64(at: 0x18)), nanoseconds: reader.u32(at: 0x20)),
            blocks: reader.u32(at: 0x24), metaBlock: reader.u32(at: 0x28), xattrBlock: reader.u32(at: 0x2C))
        guard UInt64(superblock.metaBlock) * 4096 < bytes.size else { throw .corrupt("the metadata area starts past the end of the image") }
    }

    static func read(_ bytes: any ImageBytes, _ count: Int, at offset: UInt64) throws(ErofsError) -> [UInt8] {
        guard count >= 0, offset <= bytes.size, UInt64(count) <= bytes.size - offset else {
            throw .corrupt("a read of \(count) bytes at \(offset) goes past the end of the \(bytes.size)-byte image")
        }
        do {
            return try bytes.read(count, at: offset)
        } catch {
            throw .io("\(error)")
        }
    }

    func read(_ count: Int, at offset: UInt64) throws(ErofsError) -> [UInt8] {
        try Self.read(bytes, count, at: offset)
    }

    public func root() throws(ErofsError) -> Inode { try inode(superblock.rootNid) }

    /// The inode at `path` (from the root; no symlink is followed), or nil when nothing is there.
    public func lookup(_ path: [UInt8]) throws(ErofsError) -> Inode? {
        var inode = try root()
        for part in path.split(separator: UInt8(ascii: "/")) where !part.elementsEqual([UInt8(ascii: ".")]) {
            guard inode.fileType == .directory else { return nil }
            guard let entry = try entries(of: inode).first(where: { $0.name.elementsEqual(part) }) else { return nil }
            inode = try self.inode(entry.nid)
        }
        return inode
    }

    /// The inode at `nid`.
    public func inode(_ nid: UInt64) throws(ErofsError) -> Inode {
        guard nid < (bytes.size / 32) else { throw .corrupt("inode \(nid) lies past the end of the image") }
        let offset = UInt64(superblock.metaBlock) * 4096 + nid * 32
        guard offset + 32 <= bytes.size else { throw .corrupt("inode \(nid) lies past the end of the image") }
        let compactBytes = try read(32, at: offset)
        let format = LittleEndian(compactBytes).u16(at: 0)
        guard format & ~0xF == 0 else { throw .unsupported("inode \(nid) has format 0x\(String(format, radix: 16)) (newer EROFS features)") }
        let extended = format & 1 == 1
        let core = extended ? LittleEndian(try read(64, at: offset)) : LittleEndian(compactBytes)
        guard let layout = Layout(rawValue: UInt8((format >> 1) & 7)) else {
            throw (format >> 1) & 7 == 1 || (format >> 1) & 7 == 3
                ? .unsupported("inode \(nid) is compressed") : .corrupt("inode \(nid) has data layout \((format >> 1) & 7)")
        }
        let icount = Int(core.u16(at: 2))
        guard icount != 1 else { throw .corrupt("inode \(nid) has an xattr header with no room for entries") }
        let xattrSize = icount == 0 ? 0 : 12 + 4 * (icount - 1)
        let mode = UInt32(core.u16(at: 4))
        let union = core.u32(at: 16)
        let type = FileType(mode: mode)
        guard type != .unknown else { throw .corrupt("inode \(nid) has mode \(String(mode, radix: 8)), which is no file type") }
        let inode = Inode(
            nid: nid, mode: mode,
            nlink: extended ? core.u32(at: 44) : UInt32(core.u16(at: 6)),
            size: extended ? core.u64(at: 8) : UInt64(core.u32(at: 8)),
            uid: extended ? core.u32(at: 24) : UInt32(core.u16(at: 24)),
            gid: extended ? core.u32(at: 28) : UInt32(core.u16(at: 26)),
            mtime: extended ? FileNode.Timestamp(seconds: Int64(bitPattern: core.u64(at: 32)), nanoseconds: core.u32(at: 40)) : superblock.buildTime,
            rdev: type == .characterDevice || type == .blockDevice ? UInt64(union) : 0,
            serial: core.u32(at: 20), layout: layout, union: union, coreSize: extended ? 64 : 32, xattrSize: xattrSize, offset: offset)
        guard inode.tailOffset <= bytes.size else { throw .corrupt("inode \(nid)'s xattrs run past the end of the image") }
        return inode
    }

    /// Where a file's bytes are: extents of the image (`nil` offset for a hole), in file order.
    public func extents(of inode: Inode) throws(ErofsError) -> [(offset: UInt64?, count: UInt64)] {
        let size = inode.size
        guard size > 0 else { return [] }
        let imageSize = bytes.size
        switch inode.layout {
        case .flatPlain, .flatInline:
            let tail = inode.layout == .flatInline ? size % 4096 : 0
            if inode.layout == .flatInline && tail == 0 { throw .corrupt("inode \(inode.nid) is inline but its size is a whole number of blocks") }
            let blockBytes = size - tail
            var extents = [(offset: UInt64?, count: UInt64)]()
            if blockBytes > 0 {
                let start = UInt64(inode.union) * 4096
                guard start <= imageSize, blockBytes <= imageSize - start else {
                    throw .corrupt("inode \(inode.nid)'s \(blockBytes) bytes at block \(inode.union) lie past the end of the image")
                }
                extents.append((start, blockBytes))
            }
            if tail > 0 {
                let start = inode.tailOffset
                guard start % 4096 + tail <= 4096, start + tail <= imageSize else {
                    throw .corrupt("inode \(inode.nid)'s inline data crosses a block boundary or the end of the image")
                }
                extents.append((start, tail))
            }
            return extents
        case .chunkBased:
            // Only regular files are chunk-based; elsewhere chunks could repeat blocks without end.
            guard inode.fileType == .regular else { throw .corrupt("inode \(inode.nid) is a \(inode.fileType) with chunk-based data") }
            let format = inode.union & 0xFFFF
            guard format & ~0x3F == 0 else { throw .corrupt("inode \(inode.nid) has chunk format 0x\(String(format, radix: 16))") }
            let chunkBits = 12 + UInt64(format & 0x1F)
            let entrySize: UInt64 = format & 0x20 != 0 ? 8 : 4
            let chunkSize: UInt64 = 1 << chunkBits
            let chunks = (size >> chunkBits) + (size & (chunkSize - 1) == 0 ? 0 : 1)
            var mapStart = inode.tailOffset
            if entrySize == 8 { mapStart = (mapStart + 7) / 8 * 8 }
            guard chunks <= imageSize / entrySize, mapStart + chunks * entrySize <= imageSize else {
                throw .corrupt("inode \(inode.nid)'s chunk map of \(chunks) entries runs past the end of the image")
            }
            let map = LittleEndian(try read(Int(chunks * entrySize), at: mapStart))
            var extents = [(offset: UInt64?, count: UInt64)]()
            for chunk in 0..<chunks {
                let count = min(chunkSize, size - chunk * chunkSize)
                let block = entrySize == 4 ? map.u32(at: Int(chunk * 4)) : map.u32(at: Int(chunk * 8 + 4))
                if block == 0xFFFF_FFFF {
                    extents.append((nil, count))
                } else {
                    let start = UInt64(block) * 4096
                    guard start <= imageSize, count <= imageSize - start else {
                        throw .corrupt("inode \(inode.nid)'s chunk \(chunk) lies past the end of the image")
                    }
                    extents.append((start, count))
                }
            }
            return extents
        }
    }

    /// `count` bytes of the file from `offset` (holes read as zeros).
    public func read(_ inode: Inode, from offset: UInt64 = 0, count: Int) throws(ErofsError) -> [UInt8] {
        guard offset <= inode.size else { return [] }
        let wanted = Int(min(UInt64(count), inode.size - offset))
        var out = [UInt8]()
        out.reserveCapacity(wanted)
        var position: UInt64 = 0
        for extent in try extents(of: inode) where out.count < wanted {
            let end = position + extent.count
            defer { position = end }
            guard end > offset + UInt64(out.count) else { continue }
            let skip = offset + UInt64(out.count) - position
            let take = Int(min(extent.count - skip, UInt64(wanted - out.count)))
            if let start = extent.offset {
                out += try read(take, at: start + skip)
            } else {
                out += repeatElement(0, count: take)
            }
        }
        return out
    }

    /// A symlink's target.
    public func readLink(_ inode: Inode) throws(ErofsError) -> [UInt8] {
        guard inode.fileType == .symlink else { throw .corrupt("inode \(inode.nid) is not a symlink") }
        guard inode.size > 0, inode.size < 4096 else { throw .corrupt("symlink inode \(inode.nid) has a \(inode.size)-byte target") }
        return try read(inode, count: Int(inode.size))
    }

    /// A directory's entries, including `.` and `..`, checked: each block's entries well formed
    /// and the whole directory in strictly increasing name order (what the kernel's lookup needs).
    public func entries(of inode: Inode) throws(ErofsError) -> [Entry] {
        guard inode.fileType == .directory else { throw .corrupt("inode \(inode.nid) is not a directory") }
        var entries = [Entry]()
        for extent in try extents(of: inode) {
            guard let start = extent.offset else { throw .corrupt("directory inode \(inode.nid) has a hole") }
            var blockStart: UInt64 = 0
            while blockStart < extent.count {
                let blockBytes = Int(min(4096, extent.count - blockStart))
                let block = try read(blockBytes, at: start + blockStart)
                try parseBlock(block, of: inode, into: &entries)
                blockStart += 4096
            }
        }
        for index in entries.indices.dropFirst() where !entries[index - 1].name.lexicographicallyPrecedes(entries[index].name) {
            throw .corrupt("directory inode \(inode.nid) is not in name order at \"\(String(decoding: entries[index].name, as: UTF8.self))\"")
        }
        return entries
    }

    private func parseBlock(_ block: [UInt8], of inode: Inode, into entries: inout [Entry]) throws(ErofsError) {
        let reader = LittleEndian(block)
        guard block.count >= 12 else { throw .corrupt("directory inode \(inode.nid) has a \(block.count)-byte block") }
        let first = Int(reader.u16(at: 8))
        guard first >= 12, first % 12 == 0, first <= block.count else {
            throw .corrupt("directory inode \(inode.nid) has a block whose first name offset is \(first)")
        }
        let count = first / 12
        for index in 0..<count {
            let nameStart = Int(reader.u16(at: index * 12 + 8))
            guard nameStart >= first, nameStart < block.count else {
                throw .corrupt("directory inode \(inode.nid) has a name offset \(nameStart) outside its \(block.count)-byte block")
            }
            let nameEnd: Int
            if index + 1 < count {
                nameEnd = Int(reader.u16(at: index * 12 + 20))
            } else {
                nameEnd = block[nameStart...].firstIndex(of: 0) ?? block.count
            }
            guard nameStart >= first, nameStart < nameEnd, nameEnd <= block.count, nameEnd - nameStart <= 255 else {
                throw .corrupt("directory inode \(inode.nid) has a name at bytes \(nameStart)..<\(nameEnd) of a \(block.count)-byte block")
            }
            entries.append(Entry(name: Array(block[nameStart..<nameEnd]), nid: reader.u64(at: index * 12), fileType: block[index * 12 + 10]))
        }
    }

    /// An inode's xattrs as stored: inline entries first, then shared ones (the order
    /// `listxattr` reports).
    public func xattrs(of inode: Inode) throws(ErofsError) -> [FileNode.Xattr] {
        guard inode.xattrSize > 0 else { return [] }
        let region = try read(inode.xattrSize, at: inode.offset + UInt64(inode.coreSize))
        let reader = LittleEndian(region)
        let shared = Int(region[4])
        guard 12 + 4 * shared <= region.count else { throw .corrupt("inode \(inode.nid) lists more shared xattrs than fit its xattr area") }
        var xattrs = [FileNode.Xattr]()
        var position = 12 + 4 * shared
        while position + 4 <= region.count {
            let (xattr, size) = try entry(reader, at: position, of: inode)
            xattrs.append(xattr)
            position += size
        }
        for index in 0..<shared {
            let address = UInt64(superblock.xattrBlock) * 4096 + UInt64(reader.u32(at: 12 + 4 * index)) * 4
            guard address + 4 <= bytes.size else { throw .corrupt("inode \(inode.nid)'s shared xattr \(index) lies past the end of the image") }
            let head = LittleEndian(try read(4, at: address))
            let length = 4 + Int(head.u8(at: 0)) + Int(head.u16(at: 2))
            guard address + UInt64(length) <= bytes.size else { throw .corrupt("inode \(inode.nid)'s shared xattr \(index) lies past the end of the image") }
            xattrs.append(try entry(LittleEndian(try read(length, at: address)), at: 0, of: inode).0)
        }
        return xattrs
    }

    private func entry(_ reader: LittleEndian, at start: Int, of inode: Inode) throws(ErofsError) -> (FileNode.Xattr, Int) {
        let nameLength = Int(reader.u8(at: start))
        let valueLength = Int(reader.u16(at: start + 2))
        guard 4 + nameLength + valueLength <= reader.bytes.count - start else {
            throw .corrupt("inode \(inode.nid) has an xattr that runs past its xattr area")
        }
        let suffix = reader.bytes[(start + 4)..<(start + 4 + nameLength)]
        guard let name = XattrName.join(index: reader.u8(at: start + 1), suffix: suffix) else {
            throw .corrupt("inode \(inode.nid) has an xattr with unknown name index \(reader.u8(at: start + 1))")
        }
        let value = Array(reader.bytes[(start + 4 + nameLength)..<(start + 4 + nameLength + valueLength)])
        return (FileNode.Xattr(name: name, value: value), (4 + nameLength + valueLength + 3) / 4 * 4)
    }
}

public enum ErofsError: Error, CustomStringConvertible, Equatable {
    case corrupt(String)
    case unsupported(String)
    case io(String)

    public var description: String {
        switch self {
        case .corrupt(let problem): "corrupt EROFS image: \(problem)"
        case .unsupported(let what): "unsupported EROFS image: \(what)"
        case .io(let problem): problem
        }
    }
}

/// Little-endian fields of a byte array; reads past the end give zero (callers check sizes first).
struct LittleEndian {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func u8(at offset: Int) -> UInt8 { offset < bytes.count ? bytes[offset] : 0 }
    func u16(at offset: Int) -> UInt16 { UInt16(u8(at: offset)) | UInt16(u8(at: offset + 1)) << 8 }
    func u32(at offset: Int) -> UInt32 { UInt32(u16(at: offset)) | UInt32(u16(at: offset + 2)) << 16 }
    func u64(at offset: Int) -> UInt64 { UInt64(u32(at: offset)) | UInt64(u32(at: offset + 4)) << 32 }
}
