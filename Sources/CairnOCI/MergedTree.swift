import CairnComposefs
import CairnErofs
import CairnIO

/// An image's layers merged into one tree with composefs-rs's rules (reference/composefs.md
/// §3.4), so the EROFS image made from it has the digest composefs-rs gives the same image:
/// parents must exist, `.wh.<name>` removes a name, `.wh..wh..opq` empties its directory as it
/// stands, a directory over a directory keeps the children, anything else replaces; hard links
/// share one leaf. Then `transformForOCI`: root metadata from `/usr`, `/run` emptied, xattrs
/// filtered.
public final class MergedTree {
    public struct Stat: Equatable {
        var permissions: UInt32
        var uid: UInt32
        var gid: UInt32
        var mtime: FileNode.Timestamp
        var xattrs: [FileNode.Xattr]

        init(_ entry: TarEntry) {
            (permissions, uid, gid, mtime) = (entry.mode & 0o7777, entry.uid, entry.gid, entry.mtime)
            xattrs = entry.xattrs
        }

        init() { (permissions, uid, gid, mtime, xattrs) = (0, 0, 0, FileNode.Timestamp(seconds: 0, nanoseconds: 0), []) }
    }

    enum Content {
        case inline([UInt8])
        case object(digest: [UInt8], size: UInt64)
        case symlink([UInt8])
        case device(FileType, rdev: UInt64)
        case fifo

        var fileType: FileType {
            switch self {
            case .inline, .object: .regular
            case .symlink: .symlink
            case .device(let type, _): type
            case .fifo: .fifo
            }
        }
    }

    struct Leaf {
        var stat: Stat
        var content: Content
    }

    final class Directory {
        var stat: Stat
        var entries: [[UInt8]: Inode] = [:]
        init(_ stat: Stat) { self.stat = stat }
    }

    enum Inode {
        case directory(Directory)
        case leaf(Int)
    }

    /// Which xattrs survive `transformForOCI`: `security.capability` only (the default), or
    /// `user.*` too.
    public enum XattrPolicy: Sendable { case allowlistOnly, keepUserXattrs }

    let root = Directory(Stat())
    var leaves: [Leaf] = []

    public init() {}

    /// The layer streams `layers` (by diff_id, bottom layer first) of `repository` merged and
    /// transformed for OCI.
    public static func merging(_ layers: [(diffID: OCIDigest, stream: [UInt8])], in repository: Repository, xattrs: XattrPolicy = .allowlistOnly) throws -> MergedTree {
        let tree = MergedTree()
        for layer in layers {
            try tree.apply(layer: try repository.readStream(layer.stream, contentType: LayerImporter.contentType), name: LayerImporter.streamName(of: layer.diffID))
        }
        try tree.transformForOCI(xattrs: xattrs)
        return tree
    }

    /// The composefs image (in the repository's default format) of `layers` merged, and with
    /// `bootable` the boot variant too, from the same merge.
    public static func composefsImages(of layers: [(diffID: OCIDigest, stream: [UInt8])], in repository: Repository, xattrs: XattrPolicy, bootable: Bool) throws -> (image: [UInt8], boot: [UInt8]?) {
        let tree = try merging(layers, in: repository, xattrs: xattrs)
        var options = ComposefsImage.Options()
        (options.minimumVersion, options.maximumVersion) = (repository.metadata.defaultFormat, repository.metadata.defaultFormat)
        let image = try ComposefsImage.write(try tree.fileTree(), options: options)
        guard bootable else { return (image, nil) }
        try tree.transformForBoot(reading: repository)
        return (image, try ComposefsImage.write(try tree.fileTree(), options: options))
    }

    /// Adds every entry of a layer's stream, in order.
    public func apply(layer stream: SplitStream, name: String) throws {
        var reader = TarReader(LayerImporter.StreamSource(stream, name: name))
        do {
            while let entry = try reader.next() { try apply(entry) }
        } catch let error as TarError {
            throw OCIError("layer stream \(name): \(error)")
        }
    }

    /// `process_entry`.
    func apply(_ entry: TarEntry) throws {
        let components = try TarTree.components(entry.path, entry: entry)
        guard let name = components.last else {
            guard entry.fileType == .directory, !entry.isHardLink else { throw TarError(entry, "names the root but is not a directory") }
            root.stat = Stat(entry)
            return
        }
        let inode: Inode
        if entry.isHardLink {
            let target = try TarTree.components(entry.linkName, entry: entry)
            guard let targetName = target.last, case .leaf(let id)? = try directory(target.dropLast(), for: entry).entries[targetName] else {
                throw TarError(entry, "is a hard link to \(RawPath.display(entry.linkName)), which is no file in the tree")
            }
            inode = .leaf(id)
        } else if entry.fileType == .directory {
            inode = .directory(Directory(Stat(entry)))
        } else {
            leaves.append(Leaf(stat: Stat(entry), content: try Self.content(of: entry)))
            inode = .leaf(leaves.count - 1)
        }
        let parent = try directory(components.dropLast(), for: entry)
        if name.starts(with: Self.whiteoutPrefix) {
            if name == Self.opaqueMarker {
                parent.entries.removeAll()
            } else {
                parent.entries[Array(name.dropFirst(Self.whiteoutPrefix.count))] = nil
            }
            return
        }
        if case .directory(let new) = inode, case .directory(let old)? = parent.entries[name] {
            old.stat = new.stat
        } else {
            parent.entries[name] = inode
        }
    }

    static let whiteoutPrefix = Array(".wh.".utf8)
    static let opaqueMarker = Array(".wh..wh..opq".utf8)

    /// The existing directory at `path`: every component must be there and be a directory.
    private func directory(_ path: ArraySlice<[UInt8]>, for entry: TarEntry) throws -> Directory {
        var current = root
        for part in path {
            switch current.entries[part] {
            case .directory(let next)?: current = next
            case .leaf?: throw TarError(entry, "goes through \(RawPath.display(part)), which is not a directory")
            case nil: throw TarError(entry, "is in a directory the layers have not made (\(RawPath.display(part)))")
            }
        }
        return current
    }

    private static func content(of entry: TarEntry) throws -> Content {
        switch entry.fileType {
        case .regular:
            switch entry.data {
            case .object(let digest): return .object(digest: digest, size: entry.size)
            case .inline(let bytes): return .inline(bytes)
            case .none: return .inline([])
            case .archive: throw TarError(entry, "has its data outside the repository")
            }
        case .symlink: return .symlink(entry.linkName)
        case .characterDevice, .blockDevice: return .device(entry.fileType, rdev: entry.rdev)
        case .fifo: return .fifo
        default: throw TarError(entry, "is of a type a layer cannot hold")
        }
    }

    /// `transform_for_oci`: `/` takes `/usr`'s mode, owner, mtime and xattrs (layers do not
    /// define `/`); `/run` is emptied and takes `/usr`'s mtime; xattrs are filtered.
    public func transformForOCI(xattrs policy: XattrPolicy = .allowlistOnly) throws {
        guard case .directory(let usr)? = root.entries[Array("usr".utf8)] else {
            throw OCIError("the image has no /usr directory, which composefs takes the root's metadata from")
        }
        root.stat = usr.stat
        switch root.entries[Array("run".utf8)] {
        case .directory(let run)?:
            run.stat.mtime = usr.stat.mtime
            run.entries.removeAll()
        case .leaf?: throw OCIError("the image's /run is not a directory")
        case nil: break
        }
        let keep: (FileNode.Xattr) -> Bool = { xattr in
            xattr.name == Array("security.capability".utf8) || (policy == .keepUserXattrs && xattr.name.starts(with: Array("user.".utf8)))
        }
        forEachStat { $0.xattrs.removeAll { !keep($0) } }
    }

    /// Runs `body` on the stat of every directory and leaf.
    func forEachStat(_ body: (inout Stat) -> Void) {
        var pending = [root]
        while let directory = pending.popLast() {
            body(&directory.stat)
            for case .directory(let child) in directory.entries.values { pending.append(child) }
        }
        for index in leaves.indices { body(&leaves[index].stat) }
    }

    /// The tree as `FileNode`s for the composefs writer: names in byte order, a shared leaf
    /// held by its first name in that order (as a dumpfile lists it) and linked from the others,
    /// regular files over 64 bytes pointing at their objects.
    public func fileTree() throws -> FileNode {
        var holders = [Int: FileNode]()
        var linkCounts = [Int: UInt32]()
        func node(_ stat: Stat, type: FileType) -> FileNode {
            let node = FileNode(mode: type.modeBits | stat.permissions)
            (node.uid, node.gid, node.mtime) = (stat.uid, stat.gid, stat.mtime)
            for xattr in stat.xattrs { node.setXattr(xattr.name, xattr.value) }
            return node
        }
        func build(_ directory: Directory, into parent: FileNode) throws {
            for name in directory.entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let child: FileNode
                switch directory.entries[name]! {
                case .directory(let subdirectory):
                    child = node(subdirectory.stat, type: .directory)
                    try parent.add(child, named: name)
                    try build(subdirectory, into: child)
                    continue
                case .leaf(let id):
                    linkCounts[id, default: 0] += 1
                    if let holder = holders[id] {
                        child = FileNode(mode: holder.mode)
                        child.linkTarget = holder
                    } else {
                        child = try leafNode(leaves[id], node: node)
                        holders[id] = child
                    }
                }
                try parent.add(child, named: name)
            }
        }
        let top = node(root.stat, type: .directory)
        try build(root, into: top)
        for (id, holder) in holders { holder.nlink = linkCounts[id]! }
        return top
    }

    private func leafNode(_ leaf: Leaf, node: (Stat, FileType) -> FileNode) throws -> FileNode {
        switch leaf.content {
        case .inline(let bytes):
            let file = node(leaf.stat, .regular)
            (file.size, file.content) = (UInt64(bytes.count), bytes)
            return file
        case .object(let digest, let size):
            let file = node(leaf.stat, .regular)
            (file.size, file.digest, file.payload) = (size, digest, DirectorySource.objectPath(digest))
            return file
        case .symlink(let target):
            let link = node(leaf.stat, .symlink)
            (link.payload, link.size) = (target, UInt64(target.count))
            return link
        case .device(let type, let rdev):
            let device = node(leaf.stat, type)
            device.rdev = rdev
            return device
        case .fifo:
            return node(leaf.stat, .fifo)
        }
    }
}
