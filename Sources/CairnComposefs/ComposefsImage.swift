import CairnErofs

/// Writes composefs images: metadata-only EROFS whose regular files redirect to objects in a
/// digest store. Formats 0 and 1 are byte-identical to C `mkcomposefs` (libcomposefs
/// `lcfs-writer-erofs.c`) for the same tree: BFS inode order, compact inodes wherever the
/// mtime equals the oldest one, shared xattrs for repeated (name, value) pairs, the 256
/// whiteout stubs in `/`, escaped overlay xattrs and whiteouts. Every rule here mirrors a
/// decision of that writer; changing one changes every image digest.
public enum ComposefsImage {
    public static let magic: UInt32 = 0xD078_629A
    /// Files of at most this many bytes are stored in the image (when built from a directory).
    public static let inlineContentLimit = 64
    /// The most inline content a dumpfile may give.
    public static let dumpfileContentLimit = 5000
    public static let maximumVersion: UInt32 = 1

    public struct Options: Sendable {
        /// The format written unless the tree needs a newer one (whiteouts need 1).
        public var minimumVersion: UInt32 = 0
        public var maximumVersion: UInt32 = 1
        public init() {}
    }

    /// The image bytes of `root` (which is left unchanged).
    public static func write(_ root: FileNode, options: Options = Options()) throws -> [UInt8] {
        guard options.minimumVersion <= maximumVersion, options.maximumVersion <= maximumVersion else {
            throw FileTreeError.invalid("composefs format versions go up to \(maximumVersion)")
        }
        var version = options.minimumVersion
        if version < 1 && options.maximumVersion >= 1 && containsWhiteout(root) { version = 1 }
        let tree = root.copy()
        try rewriteForOverlay(tree, parent: tree, version: version)
        tree.setXattr(Array("trusted.overlay.opaque".utf8), Array("y".utf8))
        try addWhiteoutStubs(to: tree)
        var writer = ErofsWriter.Options()
        writer.composefsVersion = version
        writer.uuid = [UInt8](repeating: 0, count: 16)
        var sink = MemorySink()
        try ErofsWriter.write(tree, options: writer, to: &sink)
        return sink.bytes
    }

    /// Whether the tree holds an overlay whiteout (a 0:0 character device), hard links aside.
    static func containsWhiteout(_ node: FileNode) -> Bool {
        if node.fileType == .characterDevice && node.rdev == 0 { return true }
        return node.children.contains { $0.linkTarget == nil && containsWhiteout($0) }
    }

    /// composefs's overlay conventions, applied before layout: user `trusted.overlay.*` xattrs
    /// are escaped, external files get `metacopy` and `redirect`, whiteouts become escaped
    /// regular files and mark their directory.
    static func rewriteForOverlay(_ node: FileNode, parent: FileNode, version: UInt32) throws(FileTreeError) {
        try validate(node)
        let overlay = Array("trusted.overlay.".utf8)
        for index in node.xattrs.indices where node.xattrs[index].name.starts(with: overlay) {
            node.xattrs[index].name = Array("trusted.overlay.overlay.".utf8) + node.xattrs[index].name[overlay.count...]
        }
        switch node.fileType {
        case .regular where node.size > 0 && node.content == nil:
            var metacopy = [UInt8]()
            if let digest = node.digest {
                metacopy = [0, UInt8(4 + digest.count), 0, digest.count == 32 ? 1 : 2] + digest
            }
            node.setXattr(Array("trusted.overlay.metacopy".utf8), metacopy)
            if let payload = node.payload, !payload.isEmpty {
                node.setXattr(Array("trusted.overlay.redirect".utf8), Array("/".utf8) + payload)
            }
        case .characterDevice where node.rdev == 0:
            node.size = 0
            node.mode = FileType.regular.modeBits | (node.mode & ~0o170000)
            node.setXattr(Array("trusted.overlay.overlay.whiteout".utf8), [])
            node.setXattr(Array("user.overlay.whiteout".utf8), [])
            parent.setXattr(Array("trusted.overlay.overlay.whiteouts".utf8), [])
            parent.setXattr(Array("user.overlay.whiteouts".utf8), [])
            if version >= 1 {
                parent.setXattr(Array("trusted.overlay.overlay.opaque".utf8), Array("x".utf8))
                parent.setXattr(Array("user.overlay.opaque".utf8), Array("x".utf8))
            }
        default:
            break
        }
        for child in node.children where child.linkTarget == nil {
            try rewriteForOverlay(child, parent: node, version: version)
        }
    }

    static func validate(_ node: FileNode) throws(FileTreeError) {
        if node.linkTarget != nil {
            guard node.resolved != nil else { throw .invalid("\(node.path) is a hard link loop") }
            return
        }
        guard node.fileType != .unknown else {
            throw .invalid("\(node.path) has mode \(String(node.mode, radix: 8)), which is no file type")
        }
        if node.fileType == .regular, node.size > 0, node.content == nil, Chunking(size: node.size).count > 1024 {
            throw .invalid("\(node.path) is too large for a composefs image (\(node.size) bytes)")
        }
    }

    /// `00`…`ff` in `/`: character devices 0:0 that hide the digest store's fan-out
    /// directories when it is stacked under the image as a lower layer.
    static func addWhiteoutStubs(to root: FileNode) throws(FileTreeError) {
        let selinux = root.xattr(named: Array("security.selinux".utf8))
        let hex = Array("0123456789abcdef".utf8)
        for byte in 0..<256 {
            let name = [hex[byte >> 4], hex[byte & 15]]
            guard root.child(named: name) == nil else { continue }
            let stub = FileNode(mode: FileType.characterDevice.modeBits | 0o644)
            (stub.uid, stub.gid, stub.mtime) = (root.uid, root.gid, root.mtime)
            if let selinux { stub.setXattr(Array("security.selinux".utf8), selinux) }
            try root.add(stub, named: name)
        }
    }
}
