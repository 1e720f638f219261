import CairnIO

/// Reads a directory into a tree: `lstat` metadata, xattrs, symlink targets; regular files keep
/// their path as their data source. Names stay raw bytes.
public enum DirectoryTree {
    public enum XattrPolicy: Sendable { case all, userOnly, none }

    public struct Options: Sendable {
        public var xattrs = XattrPolicy.all
        public var skipDevices = false
        /// Every mtime 0.
        public var useEpoch = false
        /// Files met again under another name (same device and inode) become hard links, and
        /// link counts are the names found in the tree. Off, every name is its own inode with
        /// one link, as C mkcomposefs reads directories.
        public var hardLinks = false
        public init() {}
    }

    /// The tree under `path`. `found` sees each regular file (not its hard links) as soon as
    /// it is in the tree, with its path, so its data can be read while the scan goes on.
    public static func scan(_ path: String, options: Options = Options(), found: ([UInt8], FileNode) -> Void = { _, _ in }) throws -> FileNode {
        var scanner = Scanner(options: options)
        let bytes = Array(path.utf8)
        let (root, _) = try scanner.node(at: bytes)
        guard root.isDirectory else { throw FileTreeError.invalid("\(path) is not a directory") }
        try scanner.addChildren(of: root, at: bytes, found: found)
        for (node, count) in scanner.linkCounts { node.nlink = count }
        return root
    }

    private struct Scanner {
        let options: Options
        var inodes: [RawPathInode: FileNode] = [:]
        var linkCounts: [(FileNode, UInt32)] = []
        var linkIndex: [ObjectIdentifier: Int] = [:]

        init(options: Options) { self.options = options }

        mutating func addChildren(of directory: FileNode, at path: [UInt8], found: ([UInt8], FileNode) -> Void) throws {
            for name in try RawPath.entries(path) {
                let childPath = RawPath.join(path, name)
                let (child, status) = try node(at: childPath)
                if options.skipDevices && (child.fileType == .blockDevice || child.fileType == .characterDevice) { continue }
                if options.hardLinks, !child.isDirectory {
                    let key = RawPathInode(device: status.device, inode: status.inode)
                    if let first = inodes[key] {
                        let link = FileNode(mode: first.mode)
                        link.linkTarget = first
                        try directory.add(link, named: name)
                        linkCounts[linkIndex[ObjectIdentifier(first)]!].1 += 1
                        continue
                    }
                    inodes[key] = child
                    linkIndex[ObjectIdentifier(child)] = linkCounts.count
                    linkCounts.append((child, 1))
                }
                try directory.add(child, named: name)
                if child.isDirectory { try addChildren(of: child, at: childPath, found: found) }
                if child.source != nil { found(childPath, child) }
            }
        }

        func node(at path: [UInt8]) throws -> (FileNode, RawPath.Metadata) {
            let status = try RawPath.status(path)
            let node = FileNode(mode: status.mode)
            (node.uid, node.gid, node.rdev, node.size) = (status.uid, status.gid, status.rdev, status.size)
            if !options.useEpoch { node.mtime = FileNode.Timestamp(seconds: status.seconds, nanoseconds: status.nanoseconds) }
            switch node.fileType {
            case .symlink:
                let target = try RawPath.readLink(path)
                guard !target.isEmpty else { throw FileTreeError.invalid("\(RawPath.display(path)) is a symlink with an empty target") }
                node.payload = target
                node.size = UInt64(target.count)
            case .regular:
                node.source = DataSource(path: path)
            case .unknown:
                throw FileTreeError.invalid("\(RawPath.display(path)) has mode \(String(status.mode, radix: 8)), which is no file type")
            default:
                break
            }
            if options.xattrs != .none {
                for (name, value) in try RawPath.xattrs(path) where options.xattrs == .all || name.starts(with: Array("user.".utf8)) {
                    node.setXattr(name, value)
                }
            }
            return (node, status)
        }
    }
}

private struct RawPathInode: Hashable {
    let device: UInt64
    let inode: UInt64
}
