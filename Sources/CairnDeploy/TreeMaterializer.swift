import CairnComposefs
import CairnErofs
import CairnIO
import Glibc
import SystemPackage

/// Writes a subtree of a composefs image to disk as real files: directories, regular files (the
/// image's inline bytes, or their object's from the repository), symlinks, devices, fifos and
/// hard links, each with its owner, mode, xattrs (SELinux labels among them) and mtime. A
/// deployment's writable `/etc` is made this way.
struct TreeMaterializer {
    /// The repository's `objects/`, where external files' bytes are, and the digest that names
    /// them (each object's content is checked against it before it is copied).
    let objects: String
    let algorithm: FsVerityAlgorithm
    /// The first path each inode was written at, for its other names (hard links).
    private var written = [ObjectIdentifier: String]()

    init(objects: String, algorithm: FsVerityAlgorithm) { (self.objects, self.algorithm) = (objects, algorithm) }

    /// Writes directory `node` (and everything under it) at `path`, which must not exist.
    mutating func write(_ node: FileNode, to path: String) throws {
        guard node.isDirectory else { throw DeployError("\(node.path) is not a directory") }
        try check(mkdir(path, 0o700), "create the directory", path)
        for entry in node.children {
            guard let name = String(validating: entry.name, as: UTF8.self) else {
                throw DeployError("\(entry.path): a name that is not UTF-8 cannot be written out")
            }
            let childPath = path + "/" + name
            // A hard link: another name of an inode written already, or a copy of one whose
            // first name is outside this subtree.
            guard let child = entry.resolved else { throw DeployError("\(entry.path) is a hard link loop") }
            if let first = written[ObjectIdentifier(child)] {
                try check(link(first, childPath), "hard-link \(first) as", childPath)
                continue
            }
            switch child.fileType {
            case .directory:
                try write(child, to: childPath)
                continue
            case .regular: try writeFile(child, to: childPath)
            case .symlink:
                guard let target = String(validating: child.payload ?? [], as: UTF8.self) else {
                    throw DeployError("\(entry.path): a symlink target that is not UTF-8 cannot be written out")
                }
                try check(symlink(target, childPath), "create the symlink", childPath)
            case .characterDevice, .blockDevice, .fifo, .socket:
                try check(mknod(childPath, child.mode, dev_t(child.rdev)), "create the special file", childPath)
            case .unknown: throw DeployError("\(entry.path) has an unknown file type")
            }
            written[ObjectIdentifier(child)] = childPath
            try applyMetadata(of: child, to: childPath)
        }
        try applyMetadata(of: node, to: path)
    }

    /// The file's bytes: inline in the image, or its object's once the object's fs-verity
    /// digest is the one the image names. (The deployment is synced as a whole afterwards.)
    private func writeFile(_ node: FileNode, to path: String) throws {
        let file = try File.open(path, .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
        if let content = node.content {
            try file.write(content, at: 0)
        } else if let payload = node.payload, let digest = node.digest {
            let objectPath = objects + "/" + String(decoding: payload, as: UTF8.self)
            let object: File
            do { object = try File.open(objectPath, .readOnly) } catch { throw DeployError("\(node.path): its object \(objectPath) cannot be opened: \(error)") }
            guard try object.size() == node.size, try FsVerity.digest(of: object, algorithm: algorithm) == digest else {
                throw DeployError("\(node.path): its object \(objectPath) does not hold the content the image names")
            }
            try file.copyContents(of: object)
        } else if node.size > 0 {
            throw DeployError("\(node.path) has \(node.size) bytes but neither content nor an object")
        }
    }

    /// Owner first (a chown clears set-id bits), then mode, xattrs, and the mtime last.
    private func applyMetadata(of node: FileNode, to path: String) throws {
        try check(lchown(path, node.uid, node.gid), "set the owner of", path)
        if node.fileType != .symlink { try check(chmod(path, node.mode & 0o7777), "set the mode of", path) }
        // overlayfs's own xattrs would steer an overlay that used this /etc as a layer.
        for xattr in node.xattrs where !xattr.name.starts(with: Array("trusted.overlay.".utf8)) {
            try FileSystem.setXattr(xattr.name, xattr.value, of: path)
        }
        let time = timespec(tv_sec: Int(node.mtime.seconds), tv_nsec: Int(node.mtime.nanoseconds))
        let times = [time, time]
        try check(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), "set the mtime of", path)
    }

    private func check(_ result: Int32, _ operation: String, _ path: String) throws {
        guard result == 0 else { throw SystemError(operation, path, Errno(rawValue: errno)) }
    }
}
