/// A file system tree as composefs and EROFS writers see it: one node per inode, directory
/// children kept sorted byte-wise by name (the order EROFS requires), hard links as nodes that
/// point at their target. Names, link targets and xattrs are raw bytes: file names need not be
/// UTF-8.
public final class FileNode {
    public struct Timestamp: Hashable, Comparable, Sendable {
        public var seconds: Int64
        public var nanoseconds: UInt32
        public init(seconds: Int64, nanoseconds: UInt32) { (self.seconds, self.nanoseconds) = (seconds, nanoseconds) }
        public static func < (a: Timestamp, b: Timestamp) -> Bool { (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds) }
    }

    public struct Xattr: Hashable, Sendable {
        public var name: [UInt8]
        public var value: [UInt8]
        public init(name: [UInt8], value: [UInt8]) { (self.name, self.value) = (name, value) }

        /// The bytes at once, not one element at a time (images count tens of thousands of xattrs).
        public func hash(into hasher: inout Hasher) {
            hasher.combine(name.count)
            name.withUnsafeBytes { hasher.combine(bytes: $0) }
            value.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// Full `st_mode`: type and permission bits.
    public var mode: UInt32
    public var nlink: UInt32 = 1
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    /// `st_rdev` in glibc's encoding (devices only).
    public var rdev: UInt64 = 0
    public var size: UInt64 = 0
    public var mtime = Timestamp(seconds: 0, nanoseconds: 0)
    /// A symlink's target; for a regular file stored outside the image, its path in the object
    /// store (`xx/yyyy…`).
    public var payload: [UInt8]?
    /// A regular file's bytes when the image holds them (composefs inlines files of at most 64
    /// bytes; a dumpfile may give up to 5000).
    public var content: [UInt8]?
    /// The fs-verity digest of an external regular file's content.
    public var digest: [UInt8]?
    /// Where a regular file's bytes are read from when a full image stores them.
    public var source: DataSource?
    public var xattrs: [Xattr] = []
    /// The node this one is a hard link to.
    public var linkTarget: FileNode?

    public private(set) var name: [UInt8] = []
    public private(set) var children: [FileNode] = []
    public private(set) weak var parent: FileNode?

    public init(mode: UInt32) { self.mode = mode }

    public var fileType: FileType { FileType(mode: mode) }
    public var isDirectory: Bool { fileType == .directory }

    /// Follows hard links to the node that holds the inode; nil for a cycle.
    public var resolved: FileNode? {
        var node = self
        while let next = node.linkTarget {
            node = next
            if node === self { return nil }
        }
        return node
    }

    public func child(named name: [UInt8]) -> FileNode? {
        let (found, _) = search(name)
        return found
    }

    /// Adds `child` under `name`, keeping the children sorted.
    public func add(_ child: FileNode, named name: [UInt8]) throws(FileTreeError) {
        guard isDirectory else { throw .notADirectory(self.path) }
        guard !name.isEmpty, name.count <= 255, !name.contains(0), !name.contains(UInt8(ascii: "/")) else {
            throw .invalidName(name)
        }
        let (existing, position) = search(name)
        guard existing == nil else { throw .exists(path + "/" + String(decoding: name, as: UTF8.self)) }
        child.name = name
        child.parent = self
        children.insert(child, at: position)
    }

    /// Binary search; appending in order (the common case) is checked first.
    private func search(_ name: [UInt8]) -> (FileNode?, Int) {
        if let last = children.last {
            if last.name == name { return (last, children.count - 1) }
            if last.name.lexicographicallyPrecedes(name) { return (nil, children.count) }
        }
        var (low, high) = (0, children.count)
        while low < high {
            let middle = (low + high) / 2
            let candidate = children[middle].name
            if candidate == name { return (children[middle], middle) }
            if candidate.lexicographicallyPrecedes(name) { low = middle + 1 } else { high = middle }
        }
        return (nil, low)
    }

    /// Removes the child called `name`, if there is one.
    public func remove(named name: [UInt8]) {
        let (existing, position) = search(name)
        guard let existing else { return }
        existing.parent = nil
        children.remove(at: position)
    }

    public func xattr(named name: [UInt8]) -> [UInt8]? {
        xattrs.first { $0.name == name }?.value
    }

    /// Sets (or replaces) an xattr.
    public func setXattr(_ name: [UInt8], _ value: [UInt8]) {
        if let index = xattrs.firstIndex(where: { $0.name == name }) {
            xattrs[index].value = value
        } else {
            xattrs.append(Xattr(name: name, value: value))
        }
    }

    /// The absolute path, for messages.
    public var path: String {
        var parts = [String]()
        var node: FileNode? = self
        while let current = node, current.parent != nil {
            parts.append(String(decoding: current.name, as: UTF8.self))
            node = current.parent
        }
        return "/" + parts.reversed().joined(separator: "/")
    }

    /// A deep copy; hard links point into the copy.
    public func copy() -> FileNode {
        var copies = [ObjectIdentifier: FileNode]()
        func clone(_ node: FileNode) -> FileNode {
            let new = FileNode(mode: node.mode)
            (new.nlink, new.uid, new.gid, new.rdev, new.size, new.mtime) = (node.nlink, node.uid, node.gid, node.rdev, node.size, node.mtime)
            (new.payload, new.content, new.digest, new.xattrs, new.linkTarget) = (node.payload, node.content, node.digest, node.xattrs, node.linkTarget)
            new.source = node.source
            new.name = node.name
            new.children = node.children.map { child in
                let copied = clone(child)
                copied.parent = new
                return copied
            }
            copies[ObjectIdentifier(node)] = new
            return new
        }
        let root = clone(self)
        func relink(_ node: FileNode) {
            if let target = node.linkTarget { node.linkTarget = copies[ObjectIdentifier(target)] ?? target }
            node.children.forEach(relink)
        }
        relink(root)
        return root
    }
}

/// Where a file's bytes are: a file on disk (raw path bytes), from `offset` (non-zero for a
/// member of a tar archive).
public struct DataSource: Sendable, Equatable {
    public var path: [UInt8]
    public var offset: UInt64

    public init(path: [UInt8], offset: UInt64 = 0) { (self.path, self.offset) = (path, offset) }
}

public enum FileType: UInt8, Sendable {
    case unknown = 0, regular, directory, characterDevice, blockDevice, fifo, socket, symlink

    public init(mode: UInt32) {
        switch mode & 0o170000 {
        case 0o100000: self = .regular
        case 0o040000: self = .directory
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o010000: self = .fifo
        case 0o140000: self = .socket
        case 0o120000: self = .symlink
        default: self = .unknown
        }
    }

    /// The `S_IFMT` bits.
    public var modeBits: UInt32 {
        switch self {
        case .unknown: 0
        case .regular: 0o100000
        case .directory: 0o040000
        case .characterDevice: 0o020000
        case .blockDevice: 0o060000
        case .fifo: 0o010000
        case .socket: 0o140000
        case .symlink: 0o120000
        }
    }
}

public enum FileTreeError: Error, CustomStringConvertible, Equatable {
    case notADirectory(String)
    case invalidName([UInt8])
    case exists(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notADirectory(let path): "\(path) is not a directory"
        case .invalidName(let name): "invalid file name \"\(String(decoding: name, as: UTF8.self))\" (empty, longer than 255 bytes, or holding '/' or NUL)"
        case .exists(let path): "\(path) already exists"
        case .invalid(let problem): problem
        }
    }
}
