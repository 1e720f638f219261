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
    /// Non-empty regular files and where they are, in the order the scan found them.
    private var files: [(node: FileNode, path: [UInt8])] = []

    /// Reads the tree under `path`, hashing files on `threads` threads while the scan goes on.
    public static func scan(_ path: String, options: Options = Options()) throws -> (root: FileNode, source: DirectorySource) {
        var source = DirectorySource(options: options)
        let hasher = FileHasher()
        let workers = max(1, options.threads)
        let scan = ScanOutcome()
        // Iteration 0 (always started first) scans; the others hash what it has found so far.
        // With two cores the second hasher starts when the scan ends.
        DispatchQueue.concurrentPerform(iterations: workers + 1) { iteration in
            guard iteration == 0 else { return hasher.work() }
            defer { hasher.finish(workers: workers) }
            var batch = [FileHasher.Job]()
            var batchBytes: UInt64 = 0
            var files = [(node: FileNode, path: [UInt8])]()
            scan.result = Result {
                let root = try DirectoryTree.scan(path, options: options.tree) { path, node in
                    // A composefs image holds no file data but inline content.
                    node.source = nil
                    guard node.size > 0 else { return }
                    files.append((node, path))
                    batch.append(FileHasher.Job(path: path, size: node.size))
                    batchBytes += node.size
                    if batch.count == 64 || batchBytes >= 16 << 20 {
                        hasher.add(batch, first: files.count - batch.count)
                        (batch, batchBytes) = ([], 0)
                    }
                }
                hasher.add(batch, first: files.count - batch.count)
                return (root, files)
            }
        }
        let (root, files) = try scan.result!.get()
        for ((node, _), digest) in zip(files, hasher.digests()) {
            let (digest, inline) = try digest.get()
            node.digest = digest
            node.payload = Self.objectPath(digest)
            node.content = inline
        }
        source.files = files
        return (root, source)
    }

    private init(options: Options) { self.options = options }

    /// `xx/yyyy…`: where an object with this digest lives in a digest store.
    public static func objectPath(_ digest: [UInt8]) -> [UInt8] {
        let hex = Hex.asciiDigits(digest)
        var path = [UInt8]()
        path.reserveCapacity(hex.count + 1)
        path += hex[..<2]
        path.append(UInt8(ascii: "/"))
        path += hex[2...]
        return path
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

/// The scan's tree, handed from the thread that built it to the caller once that thread is done.
private final class ScanOutcome: @unchecked Sendable {
    var result: Result<(FileNode, [(node: FileNode, path: [UInt8])]), any Error>?
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

