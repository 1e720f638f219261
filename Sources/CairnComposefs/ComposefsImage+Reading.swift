import CairnIO
import SystemPackage
import CairnErofs

extension ComposefsImage {
    /// The tree a composefs image describes, as C `composefs-info` reads it: overlay xattrs
    /// become PAYLOAD and DIGEST again, escaped xattrs and whiteouts are unescaped, the 256
    /// whiteout stubs and composefs's own markers are hidden. Hard links (an inode met again)
    /// become links to the first name met, depth first in name order. A directory met twice
    /// (a loop) is an error.
    public static func read(_ image: ErofsImage) throws(ErofsError) -> FileNode {
        let rootInode = try image.root()
        // Formats 0 and 1 hide the 256 whiteout stubs (user whiteouts are stored escaped);
        // composefs-rs's format 2 has no stubs and stores whiteouts as they are.
        let hidesWhiteouts = (image.composefsVersion ?? 0) < 2
        guard rootInode.fileType == .directory else { throw .corrupt("the root inode \(rootInode.nid) is not a directory") }
        let root = try node(rootInode, image: image)
        var seen = [rootInode.nid: root]
        // Depth first in name order, as libcomposefs recurses: which name of a hard-linked
        // inode is met first decides which one the others link to.
        var stack = [(entries: try image.entries(of: rootInode)[...], directory: root)]
        while !stack.isEmpty {
            guard let entry = stack[stack.count - 1].entries.popFirst() else {
                stack.removeLast()
                continue
            }
            let directory = stack[stack.count - 1].directory
            if entry.name == Array(".".utf8) || entry.name == Array("..".utf8) { continue }
            if let existing = seen[entry.nid] {
                guard !existing.isDirectory else { throw .corrupt("directory inode \(entry.nid) appears twice (a loop or a directory hard link)") }
                let link = FileNode(mode: existing.mode)
                link.linkTarget = existing
                try add(link, named: entry.name, to: directory)
                continue
            }
            let childInode = try image.inode(entry.nid)
            if hidesWhiteouts && childInode.fileType == .characterDevice && childInode.rdev == 0 {
                guard childInode.nlink <= 1 else { throw .corrupt("whiteout inode \(entry.nid) has \(childInode.nlink) links") }
                continue
            }
            let child = try node(childInode, image: image)
            seen[entry.nid] = child
            try add(child, named: entry.name, to: directory)
            if child.isDirectory {
                // Deeper than any path Linux can name (PATH_MAX): a hostile image, not a tree.
                guard stack.count < 2048 else { throw .corrupt("directories nest deeper than 2048 levels at inode \(entry.nid)") }
                stack.append((try image.entries(of: childInode)[...], child))
            }
        }
        return root
    }

    private static func add(_ child: FileNode, named name: [UInt8], to directory: FileNode) throws(ErofsError) {
        do {
            try directory.add(child, named: name)
        } catch {
            throw .corrupt("\(directory.path): \(error)")
        }
    }

    private static func node(_ inode: ErofsImage.Inode, image: ErofsImage) throws(ErofsError) -> FileNode {
        let node = FileNode(mode: inode.mode)
        (node.nlink, node.uid, node.gid, node.rdev, node.size, node.mtime) = (inode.nlink, inode.uid, inode.gid, inode.rdev, inode.size, inode.mtime)
        switch node.fileType {
        case .symlink:
            node.payload = try image.readLink(inode)
        case .regular where inode.size > 0 && inode.layout != .chunkBased:
            guard inode.size <= UInt64(dumpfileContentLimit) else {
                throw .corrupt("inode \(inode.nid) holds \(inode.size) bytes inline, more than composefs allows")
            }
            node.content = try image.read(inode, count: Int(inode.size))
        default:
            break
        }
        var kept = KeptXattrs()
        for xattr in try image.xattrs(of: inode) {
            apply(xattr, to: node, keeping: &kept)
        }
        node.xattrs = kept.xattrs
        return node
    }

    /// Xattrs in the order read, a later one of the same name replacing the earlier (a lookup
    /// table keeps this linear: an inode may hold tens of thousands).
    private struct KeptXattrs {
        var xattrs: [FileNode.Xattr] = []
        var positions: [[UInt8]: Int] = [:]

        mutating func set(_ name: [UInt8], _ value: [UInt8]) {
            if let position = positions[name] {
                xattrs[position].value = value
            } else {
                positions[name] = xattrs.count
                xattrs.append(FileNode.Xattr(name: name, value: value))
            }
        }
    }

    static let overlayPrefix = Array("trusted.overlay.".utf8)
    static let escapedPrefix = Array("trusted.overlay.overlay.".utf8)

    /// `lcfs_build_node_erofs_xattr`.
    private static func apply(_ xattr: FileNode.Xattr, to node: FileNode, keeping kept: inout KeptXattrs) {
        switch xattr.name {
        case Array("trusted.overlay.redirect".utf8):
            if node.fileType == .regular {
                node.payload = xattr.value.count > 1 && xattr.value.first == UInt8(ascii: "/") ? Array(xattr.value.dropFirst()) : xattr.value
            }
        case Array("trusted.overlay.metacopy".utf8):
            if node.fileType == .regular, xattr.value.count == 36 || xattr.value.count == 68 {
                node.digest = Array(xattr.value[4...])
            }
        case Array("trusted.overlay.overlay.whiteout".utf8) where node.fileType == .regular:
            node.mode = FileType.characterDevice.modeBits | (node.mode & ~0o170000)
            (node.rdev, node.size, node.content) = (0, 0, nil)
        case Array("trusted.overlay.overlay.whiteouts".utf8), Array("user.overlay.whiteout".utf8), Array("user.overlay.whiteouts".utf8):
            break
        default:
            if xattr.name.starts(with: escapedPrefix) {
                kept.set(overlayPrefix + xattr.name[escapedPrefix.count...], xattr.value)
            } else if !xattr.name.starts(with: overlayPrefix) {
                kept.set(xattr.name, xattr.value)
            }
        }
    }
}

extension ComposefsImage {
    /// The object paths (`xx/yyyy…`) the regular files of a tree read from an image refer to.
    public static func objects(of root: FileNode) -> [[UInt8]] {
        var found = [[UInt8]]()
        var pending = [root]
        while let node = pending.popLast() {
            if node.linkTarget == nil, node.fileType == .regular, let payload = node.payload { found.append(payload) }
            pending += node.children
        }
        return found
    }
}

extension ComposefsImage {
    /// A regular file's bytes: inline in the image, or the object its redirect names under
    /// `objects` (the digest store), checked against the fs-verity digest its metacopy records.
    public static func contents(of inode: ErofsImage.Inode, in image: ErofsImage, objects: String) throws -> [UInt8] {
        guard inode.fileType == .regular else { throw ErofsError.corrupt("inode \(inode.nid) is not a regular file") }
        guard inode.layout == .chunkBased else { return try image.read(inode, count: Int(inode.size)) }
        let xattrs = try image.xattrs(of: inode)
        guard var redirect = xattrs.first(where: { $0.name == Array("trusted.overlay.redirect".utf8) })?.value else {
            throw ErofsError.corrupt("inode \(inode.nid) has no data and no redirect to an object")
        }
        if redirect.first == UInt8(ascii: "/") { redirect.removeFirst() }
        let objectPath = RawPath.join(Array(objects.utf8), redirect)
        guard inode.size <= UInt64(Int.max), let object = try? RawPath.open(objectPath, .readOnly), try object.size() == inode.size,
              let bytes = try object.read(exactly: Int(inode.size), at: 0)
        else {
            throw ErofsError.io("object \(RawPath.display(objectPath)) is missing or not \(inode.size) bytes long")
        }
        if let metacopy = xattrs.first(where: { $0.name == Array("trusted.overlay.metacopy".utf8) })?.value, metacopy.count > 4 {
            let algorithm: FsVerityAlgorithm = metacopy[3] == 2 ? .sha512 : .sha256
            guard FsVerity.digest(of: bytes, algorithm: algorithm) == Array(metacopy[4...]) else {
                throw ErofsError.corrupt("object \(RawPath.display(objectPath)) does not have the fs-verity digest the image records")
            }
        }
        return bytes
    }
}
