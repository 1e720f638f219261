import ArgumentParser
import CairnErofs
import CairnIO
import SystemPackage

struct MkfsErofsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkfs-erofs",
        abstract: "Write an uncompressed EROFS image (4 KiB blocks) of a directory or a tar archive, reproducibly.",
        discussion: """
            SOURCE is a directory, a tar archive (plain, gzip or zstd; ustar, GNU, PAX with \
            SCHILY.xattr) or '-' for one on standard input. A compressed or piped archive is \
            first unpacked beside IMAGE. Hard links, xattrs, devices, fifos, sockets and long \
            names are kept; a tar path with '..' or one through a symlink is refused. The same tree \
            gives the same bytes: no wall clock (the superblock time is the oldest mtime), a UUID \
            derived from the metadata unless --uuid is given, entries and xattrs in byte order. \
            The image appears complete or not at all (written under a temporary name, renamed).
            """
    )

    @Option(help: "The superblock UUID (e.g. 11111111-2222-3333-4444-555555555555).")
    var uuid: String?

    @Option(help: "Set every mtime to these seconds since the epoch (compact inodes throughout).")
    var timestamp: Int64?

    @Flag(help: "Make every file owned by root (uid and gid 0).")
    var allRoot = false

    @Argument(help: "The image to write.")
    var image: String

    @Argument(help: "The directory or tar archive to put in it ('-': a tar archive on standard input).")
    var source: String

    func run() throws {
        var options = ErofsWriter.Options()
        options.checksum = true
        if let uuid {
            let hex = Array(uuid.filter { $0 != "-" })
            let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { UInt8(String(hex[$0..<min($0 + 2, hex.count)]), radix: 16) }
            guard hex.count == 32, bytes.count == 16 else { throw ValidationError("--uuid needs 32 hex digits") }
            options.uuid = bytes
        }
        let root: FileNode
        var spooled: String?
        defer { if let spooled { try? FileSystem.remove(spooled) } }
        // A symlink to the source is followed once, here; inside the tree nothing is followed.
        let resolved = source == "-" ? source : try FileSystem.resolvedPath(source)
        if resolved != "-", try FileSystem.status(resolved)?.isDirectory == true {
            var scan = DirectoryTree.Options()
            scan.hardLinks = true
            root = try DirectoryTree.scan(resolved, options: scan)
        } else {
            let archive = try TarSpool.seekableArchive(resolved, near: image)
            spooled = archive.isTemporary ? archive.path : nil
            do {
                root = try TarTree.read(archive.path)
            } catch let error as TarError {
                throw CommandFailure("\(source == "-" ? "standard input" : source): \(error)")
            }
        }
        if allRoot || timestamp != nil {
            var pending = [root]
            while let node = pending.popLast() {
                if allRoot { (node.uid, node.gid) = (0, 0) }
                if let timestamp { node.mtime = FileNode.Timestamp(seconds: timestamp, nanoseconds: 0) }
                pending += node.children
            }
        }
        let output = try AtomicFile(path: image)
        var sink = FileSink(output.file)
        try ErofsWriter.write(root, options: options, to: &sink)
        try sink.flush()
        try output.commit()
    }
}
