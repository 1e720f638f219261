/// The placement of every inode, xattr and block of an image, then its bytes: a port of
/// libcomposefs's `compute_erofs_*` and `write_erofs_*` steps, in their order, so composefs
/// images come out byte-identical to C mkcomposefs's. Full images use the same layout with file
/// data in blocks (a tail of at most half a block inline).
struct ErofsLayout {
    static let blockSize = 4096
    static let slotSize = 32
    static let superblockOffset = 1024
    static let superblockSize = 128

    struct Inode {
        let node: FileNode
        /// Directory entries including `.` and `..`, sorted, with the index of the inode each names.
        var entries: [(name: [UInt8], inode: Int)] = []
        /// Sorted by name; each with its offset in the shared table, or nil when stored inline.
        var xattrs: [(xattr: FileNode.Xattr, shared: Int?)] = []
        var blocks = 0
        var tailSize = 0
        var compact = false
        var xattrSize = 0
        var padding = 0
        var nid: UInt64 = 0
        var chunking: Chunking?
    }

    var inodes: [Inode] = []
    var sharedXattrs: [FileNode.Xattr] = []
    var sharedXattrSize = 0
    var oldest: FileNode.Timestamp
    var hasACL = false
    var inodesEnd = 0
    var dataBlocks = 0

    init(root: FileNode) throws(FileTreeError) {
        oldest = root.mtime
        try orderBreadthFirst(root)
        assignSharedXattrs()
        placeInodes()
    }

    /// `lcfs_compute_tree`: BFS order (hard links are entries, not inodes), directory link
    /// counts, xattrs sorted by name, the oldest mtime.
    private mutating func orderBreadthFirst(_ root: FileNode) throws(FileTreeError) {
        var index = [ObjectIdentifier: Int]()
        var queue = [root]
        var next = 0
        while next < queue.count {
            let node = queue[next]
            index[ObjectIdentifier(node)] = next
            next += 1
            if !node.isDirectory && !node.children.isEmpty { throw .invalid("\(node.path) has children but is no directory") }
            if node.isDirectory { node.nlink = 2 + UInt32(node.children.count { $0.linkTarget == nil && $0.isDirectory }) }
            if let target = node.linkTarget, node.isDirectory || target.isDirectory {
                throw .invalid("\(node.path) is a hard link to a directory")
            }
            if node.mtime < oldest { oldest = node.mtime }
            if node.xattrs.contains(where: { Self.aclNames.contains($0.name) }) { hasACL = true }
            var inode = Inode(node: node)
            inode.xattrs = node.xattrs.sorted { $0.name.lexicographicallyPrecedes($1.name) }.map { ($0, nil) }
            try Self.checkXattrs(node)
            inodes.append(inode)
            queue += node.children.filter { $0.linkTarget == nil }
        }
        for number in inodes.indices where inodes[number].node.isDirectory {
            let node = inodes[number].node
            var entries = [(name: [UInt8], inode: Int)]()
            entries.reserveCapacity(node.children.count + 2)
            for child in node.children {
                guard let target = child.resolved, let inode = index[ObjectIdentifier(target)] else {
                    throw .invalid("\(child.path) is a hard link to a file outside the tree")
                }
                entries.append((child.name, inode))
            }
            entries.append((Array(".".utf8), number))
            entries.append((Array("..".utf8), node.parent.flatMap { index[ObjectIdentifier($0)] } ?? 0))
            entries.sort { $0.name.lexicographicallyPrecedes($1.name) }
            inodes[number].entries = entries
        }
    }

    private static let aclNames = [Array("system.posix_acl_access".utf8), Array("system.posix_acl_default".utf8)]

    /// `compute_erofs_shared_xattrs`: a (name, value) pair used by more than one inode goes to
    /// the shared table, in libcomposefs's order (names, then lengths, then bytes, all
    /// descending); an inode refers to at most 128 shared entries.
    private mutating func assignSharedXattrs() {
        var uses = [FileNode.Xattr: Int](minimumCapacity: inodes.count)
        for inode in inodes {
            for (xattr, _) in inode.xattrs { uses[xattr, default: 0] += 1 }
        }
        let shared = uses.filter { $0.value > 1 }.keys.sorted { a, b in
            if a.name != b.name { return b.name.lexicographicallyPrecedes(a.name) }
            if a.value.count != b.value.count { return a.value.count > b.value.count }
            return b.value.lexicographicallyPrecedes(a.value)
        }
        var offsets = [FileNode.Xattr: Int]()
        for xattr in shared {
            offsets[xattr] = sharedXattrSize
            sharedXattrSize += Self.entrySize(xattr)
        }
        sharedXattrs = shared
        for number in inodes.indices {
            var count = 0
            for slot in inodes[number].xattrs.indices {
                if let offset = offsets[inodes[number].xattrs[slot].xattr], count < 128 {
                    inodes[number].xattrs[slot].shared = offset
                    count += 1
                }
            }
        }
    }

    /// What EROFS can store: names (less their prefix) of at most 255 bytes, values of at most
    /// 65535, and at most 65535 four-byte units of xattrs per inode.
    static func checkXattrs(_ node: FileNode) throws(FileTreeError) {
        var total = 12
        for xattr in node.xattrs {
            guard XattrName.split(xattr.name).suffix.count <= 255, xattr.value.count <= 0xFFFF else {
                throw .invalid("\(node.path) has the xattr \(String(decoding: xattr.name, as: UTF8.self)), too long for EROFS (names 255 bytes, values 65535)")
            }
            total += entrySize(xattr)
        }
        guard total <= 12 + 4 * 65534 else { throw .invalid("\(node.path) has \(total) bytes of xattrs, more than an EROFS inode holds") }
    }

    static func entrySize(_ xattr: FileNode.Xattr) -> Int {
        roundUp(4 + XattrName.split(xattr.name).suffix.count + xattr.value.count, 4)
    }

    /// `compute_erofs_inodes`: sizes, compact or extended, and placement with the padding that
    /// keeps inline tails inside one block.
    private mutating func placeInodes() {
        var position = Self.superblockOffset + Self.superblockSize
        for number in inodes.indices {
            var inode = inodes[number]
            computeDataSize(&inode)
            inode.compact = fitsCompact(inode)
            let coreSize = inode.compact ? 32 : 64
            let shared = inode.xattrs.count { $0.shared != nil }
            let inline = inode.xattrs.reduce(0) { $0 + ($1.shared == nil ? Self.entrySize($1.xattr) : 0) }
            inode.xattrSize = shared == 0 && inline == 0 ? 0 : Self.roundUp(12 + 4 * shared + inline, 4)
            let aligned = Self.roundUp(position, Self.slotSize)
            let extra = paddingForTail(&inode, at: aligned, coreSize: coreSize)
            inode.padding = aligned - position + extra
            position = aligned + extra
            dataBlocks += inode.blocks
            inode.nid = UInt64(position / Self.slotSize)
            position += coreSize + inode.xattrSize + inode.tailSize
            inodes[number] = inode
        }
        inodesEnd = Self.roundUp(position, Self.slotSize)
    }

    private func computeDataSize(_ inode: inout Inode) {
        let node = inode.node
        switch node.fileType {
        case .directory:
            var blockBytes = 0
            for entry in inode.entries {
                let length = 12 + entry.name.count
                if blockBytes + length > Self.blockSize {
                    inode.blocks += 1
                    blockBytes = 0
                }
                blockBytes += length
            }
            // libcomposefs never inlines more than half a block.
            if blockBytes > Self.blockSize / 2 {
                inode.blocks += 1
                blockBytes = 0
            }
            inode.tailSize = blockBytes
        case .symlink:
            inode.tailSize = node.payload?.count ?? 0
        case .regular where node.size > 0:
            if node.content != nil || node.source != nil {
                inode.blocks = Int(node.size / UInt64(Self.blockSize))
                inode.tailSize = Int(node.size % UInt64(Self.blockSize))
                if inode.tailSize > Self.blockSize / 2 {
                    inode.blocks += 1
                    inode.tailSize = 0
                }
            } else {
                let chunking = Chunking(size: node.size)
                inode.chunking = chunking
                inode.tailSize = 4 * chunking.count
            }
        default:
            break
        }
    }

    private func fitsCompact(_ inode: Inode) -> Bool {
        let node = inode.node
        guard node.mtime == oldest, node.nlink <= 0xFFFF, node.uid <= 0xFFFF, node.gid <= 0xFFFF else { return false }
        let size = node.isDirectory ? UInt64(inode.blocks * Self.blockSize + inode.tailSize) : node.size
        return size <= UInt64(UInt32.max)
    }

    /// `compute_erofs_inode_padding_for_tail`: padding before the inode so its inline tail does
    /// not cross a block; a tail that cannot fit moves to a block of its own.
    private func paddingForTail(_ inode: inout Inode, at position: Int, coreSize: Int) -> Int {
        let headSize = coreSize + inode.xattrSize
        if inode.node.fileType == .symlink {
            // The inode and the target must share a block; a target too large for that gets a block.
            let total = headSize + inode.tailSize
            if total / Self.blockSize > 0 {
                inode.blocks += 1
                inode.tailSize = 0
            }
            return position / Self.blockSize != (position + total - 1) / Self.blockSize ? Self.roundUp(position, Self.blockSize) - position : 0
        }
        var remainder = Self.blockSize - (position + headSize) % Self.blockSize
        guard remainder < inode.tailSize else { return 0 }
        let extra = Self.roundUp(remainder, Self.slotSize)
        remainder = Self.blockSize - (position + headSize + extra) % Self.blockSize
        if inode.tailSize <= remainder { return extra }
        inode.blocks += 1
        inode.tailSize = 0
        return Self.roundUp(position, Self.blockSize) - position
    }

    static func roundUp(_ value: Int, _ alignment: Int) -> Int { (value + alignment - 1) / alignment * alignment }
}

/// How an external file's (empty) chunk map is cut: as few chunks as possible, each a power of
/// two of at least one block.
public struct Chunking: Sendable {
    public let bits: Int
    public let count: Int

    public init(size: UInt64) {
        var bits = size > 1 ? 64 - (size - 1).leadingZeroBitCount : 0
        bits = Swift.min(Swift.max(bits, 12), 12 + 31)
        self.bits = bits
        count = Int(size >> UInt64(bits)) + (size & ((1 << UInt64(bits)) - 1) == 0 ? 0 : 1)
    }
}
