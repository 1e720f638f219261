import CairnIO
import SystemPackage

/// Reads an uncompressed tar archive (ustar, GNU long names and links, PAX headers with
/// `SCHILY.xattr.*`) into a tree whose regular files point at their bytes inside the archive.
/// Paths are taken relative to the root; a `..` component, a path through a symlink or a
/// non-directory, a sparse file or a damaged header is an error naming the entry. A later entry
/// replaces an earlier one of the same name (a directory keeps its children), as tar extracts.
public enum TarTree {
    public static func read(_ path: String) throws -> FileNode {
        let archive = try File.open(path, .readOnly)
        let root = FileNode(mode: FileType.directory.modeBits | 0o755)
        var reader = TarReader(ArchiveFile(archive, size: try archive.size()))
        var links = [ObjectIdentifier: [FileNode]]()
        while let entry = try reader.next() {
            try add(entry, archive: Array(path.utf8), to: root, links: &links)
        }
        // Link counts are the names each inode has in the tree.
        var counts = [ObjectIdentifier: (FileNode, UInt32)]()
        var pending = [root]
        while let node = pending.popLast() {
            if !node.isDirectory, let target = node.resolved {
                counts[ObjectIdentifier(target), default: (target, 0)].1 += 1
            }
            pending += node.children
        }
        for (node, count) in counts.values { node.nlink = count }
        return root
    }

    /// A tar archive read in place: entry data stays where it is.
    public struct ArchiveFile: TarSource {
        let file: File
        let size: UInt64
        public var offset: UInt64 = 0

        public init(_ file: File, size: UInt64) { (self.file, self.size) = (file, size) }

        public mutating func read(_ count: Int) throws -> [UInt8]? {
            // No end-of-archive blocks is tolerated, as GNU tar does.
            if offset == size { return nil }
            guard UInt64(count) <= size - offset, let bytes = try file.read(exactly: count, at: offset) else {
                throw TarError("the archive ends inside the header or extension at byte \(offset)")
            }
            offset += UInt64(count)
            return bytes
        }

        public mutating func data(_ size: UInt64, of entry: TarEntry) throws -> TarData {
            guard size <= self.size - offset else {
                throw TarError(entry, "claims \(size) bytes, past the end of the archive")
            }
            defer { offset = min(self.size, offset + TarEntry.padded(size)) }
            return .archive(offset: offset)
        }
    }

    /// The components of `path` (a tar entry's path or link target), `.` and empty ones dropped;
    /// `..`, a name over 255 bytes or a path of 4096 bytes or more is an error naming `entry`.
    public static func components(_ path: [UInt8], entry: TarEntry) throws -> [[UInt8]] {
        guard path.count < 4096 else { throw TarError(entry, "has a path of \(path.count) bytes (at most 4095)") }
        var parts = [[UInt8]]()
        for part in path.split(separator: UInt8(ascii: "/")) where part.elementsEqual([UInt8(ascii: ".")]) == false {
            guard !part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) else {
                throw TarError(entry, "has a '..' component, which would leave the tree")
            }
            guard part.count <= 255 else { throw TarError(entry, "has a name longer than 255 bytes") }
            parts.append(Array(part))
        }
        return parts
    }

    /// `links` lists, per inode, the hard links made to it so far.
    private static func add(_ entry: TarEntry, archive: [UInt8], to root: FileNode, links: inout [ObjectIdentifier: [FileNode]]) throws {
        let parts = try components(entry.path, entry: entry)
        var parent = root
        for part in parts.dropLast() {
            if let next = parent.child(named: part) {
                guard next.isDirectory, next.linkTarget == nil else {
                    throw TarError(entry, "goes through \(next.path), which is not a directory")
                }
                parent = next
            } else {
                // A directory the archive never lists: root-owned, 0755, mtime 0 (reproducible).
                let implied = FileNode(mode: FileType.directory.modeBits | 0o755)
                try parent.add(implied, named: part)
                parent = implied
            }
        }
        let node: FileNode
        switch entry.type {
        case UInt8(ascii: "1"):
            let targetParts = try components(entry.linkName, entry: entry)
            var target: FileNode? = root
            for part in targetParts { target = target?.child(named: part) }
            guard let target, !target.isDirectory, !targetParts.isEmpty else {
                throw TarError(entry, "is a hard link to \(String(decoding: entry.linkName, as: UTF8.self)), which is no earlier file")
            }
            let holder = target.linkTarget ?? target
            node = FileNode(mode: holder.mode)
            node.linkTarget = holder
            links[ObjectIdentifier(holder), default: []].append(node)
        default:
            node = FileNode(mode: entry.mode)
            (node.uid, node.gid, node.mtime, node.xattrs) = (entry.uid, entry.gid, entry.mtime, entry.xattrs)
            switch node.fileType {
            case .regular:
                node.size = entry.size
                if entry.size > 0, case .archive(let offset) = entry.data { node.source = DataSource(path: archive, offset: offset) }
            case .symlink:
                guard !entry.linkName.isEmpty, entry.linkName.count < 4096 else { throw TarError(entry, "is a symlink with an empty or over-long target") }
                node.payload = entry.linkName
                node.size = UInt64(entry.linkName.count)
            case .characterDevice, .blockDevice:
                node.rdev = entry.rdev
            default:
                break
            }
        }
        guard let name = parts.last else {
            // The archive's entry for the root itself: only its metadata counts.
            guard node.isDirectory else { throw TarError(entry, "names the root but is not a directory") }
            (root.mode, root.uid, root.gid, root.mtime, root.xattrs) = (node.mode, node.uid, node.gid, node.mtime, node.xattrs)
            return
        }
        if let existing = parent.child(named: name) {
            if existing.isDirectory && node.isDirectory {
                (existing.mode, existing.uid, existing.gid, existing.mtime, existing.xattrs) = (node.mode, node.uid, node.gid, node.mtime, node.xattrs)
                return
            }
            parent.remove(named: name)
            promoteLinks(of: existing, links: &links)
        }
        try parent.add(node, named: name)
    }

    /// A replaced file keeps living under its hard links (as tar extracts it): the first link
    /// takes over the inode and the others point at it.
    private static func promoteLinks(of replaced: FileNode, links: inout [ObjectIdentifier: [FileNode]]) {
        guard var linkers = links.removeValue(forKey: ObjectIdentifier(replaced)), !linkers.isEmpty else { return }
        let heir = linkers.removeFirst()
        (heir.mode, heir.uid, heir.gid, heir.rdev, heir.size, heir.mtime) = (replaced.mode, replaced.uid, replaced.gid, replaced.rdev, replaced.size, replaced.mtime)
        (heir.payload, heir.content, heir.digest, heir.source, heir.xattrs) = (replaced.payload, replaced.content, replaced.digest, replaced.source, replaced.xattrs)
        heir.linkTarget = nil
        for link in linkers { link.linkTarget = heir }
        if !linkers.isEmpty { links[ObjectIdentifier(heir)] = linkers }
    }
}

public struct TarError: Error, CustomStringConvertible {
    public let description: String

    public init(_ entry: TarEntry, _ problem: String) {
        description = "tar entry \(String(decoding: entry.path, as: UTF8.self)) (header at byte \(entry.headerOffset)) \(problem)"
    }

    public init(_ description: String) { self.description = description }
}
