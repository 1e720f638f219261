import CairnErofs

extension ImageLayout {
    /// `lcfs_write_erofs_to` from the header on: composefs header, superblock, inodes with their
    /// xattrs and tails, the shared xattr table, then the data blocks.
    func encode(version: UInt32) -> [UInt8] {
        let dataStart = Self.roundUp(inodesEnd + sharedXattrSize, Self.blockSize)
        var out = ImageBuffer()
        out.reserve(dataStart + dataBlocks * Self.blockSize)
        out.u32(ComposefsImage.magic)
        out.u32(1)  // LCFS_EROFS_VERSION
        out.u32(hasACL ? 1 : 0)
        out.u32(version)
        out.pad(to: Self.superblockOffset)

        out.u32(0xE0F5_E1E2)
        out.u32(0)  // checksum: composefs does not set SB_CHKSUM
        out.u32(0x2 | 0x4)  // MTIME | XATTR_FILTER
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
            writeInode(inode, number: UInt32(number), into: &out, nextBlock: &nextBlock)
        }
        out.align(Self.slotSize)
        for xattr in sharedXattrs { Self.writeXattr(xattr, into: &out) }
        out.align(Self.blockSize)
        for inode in inodes {
            writeDirectoryBlocks(inode, into: &out)
            writeFileBlocks(inode, into: &out)
        }
        return out.bytes
    }

    /// One inode: core, xattrs, inline tail; `number` (the BFS index) becomes `i_ino`.
    private func writeInode(_ inode: Inode, number: UInt32, into out: inout ImageBuffer, nextBlock: inout Int) {
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
            writeDirectoryTail(inode, into: &out)
        case .symlink where inode.blocks == 0:
            out.append(node.payload ?? [])
        case .regular where inode.tailSize > 0:
            if let content = node.content {
                out.append(content[(content.count - inode.tailSize)...])
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

    private func writeDirectoryTail(_ inode: Inode, into out: inout ImageBuffer) {
        let tail = directoryChunks(inode).tail
        if !tail.isEmpty { writeEntries(inode, tail, into: &out) }
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

    /// `write_erofs_file_content`: an inline file's or symlink's first block, or an external
    /// file's chunk map moved out of the inode (a block of holes).
    private func writeFileBlocks(_ inode: Inode, into out: inout ImageBuffer) {
        guard inode.blocks > 0 else { return }
        let node = inode.node
        switch node.fileType {
        case .regular where node.content == nil:
            out.repeating(0xFF, count: Self.blockSize)
        case .regular:
            out.append(node.content![..<min(node.content!.count, Self.blockSize)])
            out.align(Self.blockSize)
        case .symlink:
            out.append(node.payload![..<min(node.payload!.count, Self.blockSize)])
            out.align(Self.blockSize)
        default:
            break
        }
    }
}

/// Little-endian writes into a growing byte array.
struct ImageBuffer {
    private(set) var bytes: [UInt8] = []

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }
    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }
    mutating func zeros(_ count: Int) { repeating(0, count: count) }
    mutating func repeating(_ byte: UInt8, count: Int) { bytes.append(contentsOf: repeatElement(byte, count: count)) }
    mutating func pad(to offset: Int) { zeros(offset - bytes.count) }
    mutating func align(_ alignment: Int) { pad(to: ImageLayout.roundUp(bytes.count, alignment)) }
}
