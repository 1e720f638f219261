import CairnCasync
import CairnErofs
import CairnIO
import Dispatch
import SystemPackage

/// A directory read the way C `mkcomposefs DIR` does: `lstat` metadata (nlink 1: hard links are
/// not detected), xattrs as listed, symlink targets, every mtime or none. Regular files get
/// their fs-verity digest and the object path it names; files of at most 64 bytes are also kept
/// inline.
public struct DirectorySource {
    public struct Options: Sendable {
        public var tree = DirectoryTree.Options()
        /// Threads that hash and copy files.
        public var threads = 2
        public init() {}
    }

    public let options: Options
    /// Regular files and where they are, in tree order.
    private var files: [(node: FileNode, path: [UInt8])] = []

    /// Reads the tree under `path`.
    public static func scan(_ path: String, options: Options = Options()) throws -> (root: FileNode, source: DirectorySource) {
        var source = DirectorySource(options: options)
        let root = try DirectoryTree.scan(path, options: options.tree)
        var pending = [root]
        while let node = pending.popLast() {
            if let file = node.source {
                source.files.append((node, file.path))
                // A composefs image holds no file data but inline content.
                node.source = nil
            }
            pending += node.children.reversed()
        }
        try source.computeDigests()
        return (root, source)
    }

    private init(options: Options) { self.options = options }

    /// fs-verity digests (SHA-256, as composefs images record) of every non-empty regular
    /// file, on `threads` threads; the object path is the digest's hex with a `/` after two digits.
    private func computeDigests() throws {
        let work = files.filter { $0.node.size > 0 }
        let results = Results<([UInt8], [UInt8]?)>(count: work.count)
        let paths = work.map(\.path)
        let sizes = work.map(\.node.size)
        let threads = max(1, min(options.threads, work.count))
        // Largest first, so no thread is left alone with a big file at the end.
        let order = work.indices.sorted { sizes[$0] > sizes[$1] }
        let next = WorkCounter(count: order.count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 4096)
            defer { buffer.deallocate() }
            while let taken = next.take() {
                let index = order[taken]
                results.store(index) {
                    let file = try RawPath.open(paths[index], .readOnly)
                    let size = sizes[index]
                    let changed = FsVerityError(description: "\(file.path) changed size while the image was being made")
                    guard try file.size() == size else { throw changed }
                    guard size <= UInt64(ComposefsImage.inlineContentLimit) else {
                        return (try FsVerity.digest(of: file, size: size, algorithm: .sha256, buffer: buffer), nil)
                    }
                    guard let inline = try file.read(exactly: Int(size), at: 0) else { throw changed }
                    return (FsVerity.digest(of: inline, algorithm: .sha256), inline)
                }
            }
        }
        for (number, (node, _)) in work.enumerated() {
            let (digest, inline) = try results.take(number).get()
            node.digest = digest
            node.payload = Self.objectPath(digest)
            node.content = inline
        }
    }

    /// Bytes each hashing thread reads at a time.
    private static let readBufferSize = 4 << 20

    /// `xx/yyyy…`: where an object with this digest lives in a digest store.
    public static func objectPath(_ digest: [UInt8]) -> [UInt8] {
        let hex = Array(Hex.encode(digest).utf8)
        return Array(hex[..<2]) + [UInt8(ascii: "/")] + Array(hex[2...])
    }

    /// Copies every file the image does not hold inline into `store` under its object path (a
    /// reflink or kernel copy where possible), unless an object of that name is there already.
    /// Each object appears complete (written under a temporary name and renamed), mode 0644,
    /// with fs-verity enabled where the file system supports it; one `syncfs` at the end makes
    /// them all durable before the image that names them is written.
    public func fillStore(_ store: String) throws {
        let work = files.filter { $0.node.content == nil && $0.node.payload != nil }
        let sources = work.map(\.path)
        let targets = work.map { store + "/" + String(decoding: $0.node.payload!, as: UTF8.self) }
        try FileSystem.makeDirectories(store)
        let results = Results<Void>(count: work.count)
        let threads = max(1, min(options.threads, work.count))
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            var index = worker
            while index < sources.count {
                results.store(index) { try Self.copyObject(from: sources[index], to: targets[index], store: store) }
                index += threads
            }
        }
        for index in work.indices { try results.take(index).get() }
        try FileSystem.synchronizeFileSystem(containing: store)
    }

    private static func copyObject(from source: [UInt8], to target: String, store: String) throws {
        if FileSystem.exists(target) { return }
        try FileSystem.makeDirectories(FileSystem.directory(of: target))
        let temporary = try AtomicFile(path: target, permissions: [.ownerReadWrite, .groupRead, .otherRead])
        try temporary.file.copyContents(of: try RawPath.open(source, .readOnly))
        try temporary.commit()
        if let object = try? File.open(target, .readOnly) { object.enableVerity(algorithm: 1) }
    }
}

/// One slot per work item, each written by exactly one thread of `concurrentPerform`.
final class Results<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func store(_ index: Int, _ body: () throws -> T) {
        let result = Result { try body() }
        slots.withUnsafeMutableBufferPointer { $0[index] = result }
    }
    func take(_ index: Int) -> Result<T, any Error> { slots[index]! }
}

