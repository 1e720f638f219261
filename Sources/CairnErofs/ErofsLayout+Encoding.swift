import CairnCasync
import CairnIO
import SystemPackage

/// Where an image's bytes go, in order.
public protocol ImageSink {
    mutating func append(_ bytes: [UInt8]) throws
    /// Appends `count` bytes of the file at `path` from `offset` (a regular file's data).
    mutating func appendFile(_ path: [UInt8], offset: UInt64, count: UInt64) throws
}

/// An image built in memory (composefs images: metadata only, small).
public struct MemorySink: ImageSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func append(_ bytes: [UInt8]) { self.bytes += bytes }
    public mutating func appendFile(_ path: [UInt8], offset: UInt64, count: UInt64) throws {
        let file = try RawPath.open(path, .readOnly)
        guard let data = try file.read(exactly: Int(count), at: offset) else { throw ErofsWriter.shrank(path, count) }
        bytes += data
    }
}

/// Placement options of an image's bytes.
public enum ErofsWriter {
    public struct Options: Sendable {
        /// Writes composefs's 32-byte header (with this format version) before the superblock.
        public var composefsVersion: UInt32?
        /// The superblock's UUID; nil derives one from the metadata, so equal trees give equal images.
        public var uuid: [UInt8]?
        /// Sets the superblock checksum (CRC-32C of block 0 from the superblock on).
        public var checksum = false
        public init() {}
    }

    /// Writes the image of `root` (which is left unchanged) to `sink`.
    public static func write(_ root: FileNode, options: Options, to sink: inout some ImageSink) throws {
        try ErofsLayout(root: root).encode(options, to: &sink)
    }

    static func shrank(_ path: [UInt8], _ count: UInt64) -> ErofsError {
        .io("\(RawPath.display(path)) changed while the image was being written (it no longer holds \(count) bytes)")
    }
}

extension ErofsLayout {
    /// `lcfs_write_erofs_to` from the header on: the metadata (header, superblock, inodes with
    /// their xattrs and tails, the shared xattr table) is built in memory so the superblock can
    /// carry a UUID and checksum of it, then the data blocks go to the sink in inode order.
    func encode(_ options: ErofsWriter.Options, to sink: inout some ImageSink) throws {
        let dataStart = Self.roundUp(inodesEnd + sharedXattrSize, Self.blockSize)
        var out = ImageBuffer()
        out.reserve(dataStart)
        if let version = options.composefsVersion {
            out.u32(0xD078_629A)
            out.u32(1)  // LCFS_EROFS_VERSION
            out.u32(hasACL ? 1 : 0)
            out.u32(version)
        }
        out.pad(to: Self.superblockOffset)

        out.u32(0xE0F5_E1E2)
        out.u32(0)  // checksum, set below
        out.u32((options.checksum ? 0x1 : 0) | 0x2 | 0x4)  // SB_CHKSUM, MTIME, XATTR_FILTER
        out.u8(12)
        out.u8(0)
        out.u16(UInt16(truncatingIfNeeded: inodes[0].nid))
        out.u64(UInt64(inodes.count))
        out.u64(UInt64(bitPattern: oldest.seconds))
        out.u32(oldest.nanoseconds)
        out.u32(UInt32(dataStart / Self.blockSize + dataBlocks))
        out.u32(UInt32((Self.superblockOffset + Self.superblockSize) / Self.blockSize))  // meta_blkaddr
        out.u32(UInt32(inodesEnd / Self.blockSize))  // xattr_blkaddr
        out.pad(to: Self.superblockOffset + Self.superblockSize)

        var nextBlock = dataStart / Self.blockSize
        for (number, inode) in inodes.enumerated() {
            try writeInode(inode, number: UInt32(number), into: &out, nextBlock: &nextBlock)
        }
        out.align(Self.slotSize)
        for xattr in sharedXattrs { Self.writeXattr(xattr, into: &out) }
        out.align(Self.blockSize)

        let uuidOffset = Self.superblockOffset + 0x30
        let uuid = options.uuid ?? Self.derivedUUID(out.bytes)
        out.bytes.replaceSubrange(uuidOffset..<(uuidOffset + 16), with: uuid.prefix(16))
        if options.checksum {
            let crc = ~CRC32C.checksum(out.bytes[Self.superblockOffset..<Self.blockSize])
            out.bytes.replaceSubrange((Self.superblockOffset + 4)..<(Self.superblockOffset + 8), with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        }
        try sink.append(out.bytes)

        for inode in inodes {
            var blocks = ImageBuffer()
            writeDirectoryBlocks(inode, into: &blocks)
            try writeFileBlocks(inode, into: &blocks, sink: &sink)
        }
    }

    /// A UUID (RFC 4122 variant, version 4 bits) from the SHA-256 of the metadata.
    static func derivedUUID(_ metadata: [UInt8]) -> [UInt8] {
        var uuid = Array(DigestAlgorithm.sha256.hash(metadata).bytes[..<16])
        uuid[6] = uuid[6] & 0x0F | 0x40
        uuid[8] = uuid[8] & 0x3F | 0x80
        return uuid
    }

    /// One inode: core, xattrs, inline tail; `number` (the BFS index) becomes `i_ino`.
    private func writeInode(_ inode: Inode, number: UInt32, into out: inout ImageBuffer, nextBlock: inout Int) throws {
        let node = inode.node
        out.zeros(inode.padding)
        let icount = inode.xattrSize == 0 ? 0 : (inode.xattrSize - 12) / 4 + 1
        var layout: UInt16 = inode.tailSize > 0 ? 2 : 0  // FLAT_INLINE or FLAT_PLAIN
        var size: UInt64
        switch node.fileType {
        case .directory: size = UInt64(inode.blocks * Self.blockSize + inode.tailSize)
        case .regular:
            size = node.size
            if inode.chunking != nil { layout = 4 }  // CHUNK_BASED
        case .symlink: size = inode.blocks == 0 ? UInt64(inode.tailSize) : UInt64(node.payload?.count ?? 0)
        default: size = 0
        }
        // i_u: the first data block, the device number, or the chunk format. libcomposefs writes
        // the chunk format over the low half of a block address (an external file whose chunk
        // map moved to a block gets both).
        var union: UInt32 = 0
        switch node.fileType {
        case .characterDevice, .blockDevice:
            union = UInt32(truncatingIfNeeded: node.rdev)
        case .directory, .regular, .symlink:
            if inode.blocks > 0 {
                union = UInt32(truncatingIfNeeded: nextBlock)
                nextBlock += inode.blocks
            }
            if let chunking = inode.chunking { union = (union & 0xFFFF_0000) | UInt32(chunking.bits - 12) }
        default:
            break
        }
        let format = layout << 1 | (inode.compact ? 0 : 1)
        if inode.compact {
            out.u16(format)
            out.u16(UInt16(icount))
            out.u16(UInt16(truncatingIfNeeded: node.mode))
            out.u16(UInt16(truncatingIfNeeded: node.nlink))
            out.u32(UInt32(truncatingIfNeeded: size))
            out.u32(0)
            out.u32(union)
            out.u32(number)
            out.u16(UInt16(truncatingIfNeeded: node.uid))
            out.u16(UInt16(truncatingIfNeeded: node.gid))
            out.u32(0)
        } else {
            out.u16(format)
            out.u16(UInt16(icount))
            out.u16(UInt16(truncatingIfNeeded: node.mode))
            out.u16(0)
            out.u64(size)
            out.u32(union)
            out.u32(number)
            out.u32(node.uid)
            out.u32(node.gid)
            out.u64(UInt64(bitPattern: node.mtime.seconds))
            out.u32(node.mtime.nanoseconds)
            out.u32(node.nlink)
            out.zeros(16)
        }
        if inode.xattrSize > 0 {
            let filter = inode.xattrs.reduce(UInt32(0)) { $0 | 1 << XattrName.filterBit($1.xattr.name) }
            out.u32(~filter)
            out.u8(UInt8(inode.xattrs.count { $0.shared != nil }))
            out.zeros(7)
            for case let (_, offset?) in inode.xattrs {
                out.u32(UInt32((inodesEnd % Self.blockSize + offset) / 4))
            }
            for (xattr, offset) in inode.xattrs where offset == nil { Self.writeXattr(xattr, into: &out) }
        }
        switch node.fileType {
        case .directory:
            let tail = directoryChunks(inode).tail
            if !tail.isEmpty { writeEntries(inode, tail, into: &out) }
        case .symlink where inode.blocks == 0:
            out.append(node.payload ?? [])
        case .regular where inode.tailSize > 0:
            if let content = node.content {
                out.append(content[(content.count - inode.tailSize)...])
            } else if let source = node.source {
                let file = try RawPath.open(source.path, .readOnly)
                guard let tail = try file.read(exactly: inode.tailSize, at: source.offset + node.size - UInt64(inode.tailSize)) else {
                    throw ErofsWriter.shrank(source.path, node.size)
                }
                out.append(tail)
            } else {
                out.repeating(0xFF, count: inode.tailSize)  // EROFS_NULL_ADDR: every chunk a hole
            }
        default:
            break
        }
    }

    static func writeXattr(_ xattr: FileNode.Xattr, into out: inout ImageBuffer) {
        let (index, suffix) = XattrName.split(xattr.name)
        out.u8(UInt8(truncatingIfNeeded: suffix.count))
        out.u8(index)
        out.u16(UInt16(truncatingIfNeeded: xattr.value.count))
        out.append(suffix)
        out.append(xattr.value)
        out.align(4)
    }

    /// Directory entries cut into blocks as `write_erofs_dentries` does: full blocks go to data
    /// blocks, the rest inline unless the layout gave it a block too.
    private func directoryChunks(_ inode: Inode) -> (blocks: [Range<Int>], tail: Range<Int>) {
        var blocks = [Range<Int>]()
        var blockBytes = 0
        var first = 0
        for (position, entry) in inode.entries.enumerated() {
            let length = 12 + entry.name.count
            if blockBytes + length > Self.blockSize {
                blocks.append(first..<position)
                blockBytes = 0
                first = position
            }
            blockBytes += length
        }
        if blocks.count < inode.blocks {
            blocks.append(first..<inode.entries.count)
            first = inode.entries.count
            blockBytes = 0
        }
        return (blocks, blockBytes > 0 ? first..<inode.entries.count : first..<first)
    }

    private func writeDirectoryBlocks(_ inode: Inode, into out: inout ImageBuffer) {
        guard inode.node.isDirectory else { return }
        for block in directoryChunks(inode).blocks {
            writeEntries(inode, block, into: &out)
            out.align(Self.blockSize)
        }
    }

    private func writeEntries(_ inode: Inode, _ range: Range<Int>, into out: inout ImageBuffer) {
        var nameOffset = range.count * 12
        for entry in inode.entries[range] {
            out.u64(inodes[entry.inode].nid)
            out.u16(UInt16(truncatingIfNeeded: nameOffset))
            out.u8(inodes[entry.inode].node.fileType.rawValue)
            out.u8(0)
            nameOffset += entry.name.count
        }
        for entry in inode.entries[range] { out.append(entry.name) }
    }

    /// `write_erofs_file_content`: a directory's full blocks (already in `out`), a file's blocks
    /// (copied from its source, or its inline content's first block), a symlink's, or an
    /// external file's chunk map moved out of the inode (a block of holes).
    private func writeFileBlocks(_ inode: Inode, into out: inout ImageBuffer, sink: inout some ImageSink) throws {
        let node = inode.node
        if inode.blocks > 0 {
            switch node.fileType {
            case .regular where node.content != nil:
                out.append(node.content![..<min(node.content!.count, Self.blockSize)])
                out.align(Self.blockSize)
            case .regular:
                if let source = node.source {
                    try sink.append(out.bytes)
                    out = ImageBuffer()
                    let count = min(node.size, UInt64(inode.blocks * Self.blockSize))
                    try sink.appendFile(source.path, offset: source.offset, count: count)
                    out.zeros(Int((UInt64(Self.blockSize) - count % UInt64(Self.blockSize)) % UInt64(Self.blockSize)))
                } else {
                    out.repeating(0xFF, count: Self.blockSize)
                }
            case .symlink:
                out.append(node.payload![..<min(node.payload!.count, Self.blockSize)])
                out.align(Self.blockSize)
            default:
                break
            }
        }
        if !out.bytes.isEmpty { try sink.append(out.bytes) }
    }
}

/// Little-endian writes into a growing byte array.
struct ImageBuffer {
    var bytes: [UInt8] = []

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }
    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }
    mutating func zeros(_ count: Int) { repeating(0, count: count) }
    mutating func repeating(_ byte: UInt8, count: Int) { bytes.append(contentsOf: repeatElement(byte, count: count)) }
    mutating func pad(to offset: Int) { zeros(offset - bytes.count) }
    /// Pads to a multiple of `alignment` bytes, counted from the start of this buffer (buffers
    /// begin on block boundaries of the image).
    mutating func align(_ alignment: Int) { pad(to: ErofsLayout.roundUp(bytes.count, alignment)) }
}
