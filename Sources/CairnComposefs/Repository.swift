import CairnCasync
import CairnIO
import Synchronization
import SystemPackage

/// A composefs repository in composefs-rs's on-disk format (reference/composefs.md §1):
/// `meta.json`, `objects/xx/yyyy…` named by fs-verity digest, `streams/<name>` and `images/<hex>`
/// symlinks to objects, and `streams/refs/**`, `images/refs/**` naming them. Every handle holds
/// a shared `flock` on the repository directory for its lifetime; garbage collection takes it
/// exclusively, so it never runs while something writes.
public final class Repository: @unchecked Sendable {
    public enum Access: Sendable { case shared, exclusive }

    public let path: String
    public let metadata: RepositoryMetadata
    /// No fs-verity on `meta.json`: objects are named by digests computed in user space, and
    /// verity is enabled only where the file system allows it.
    public let isInsecure: Bool
    public let access: Access
    /// `meta.json` lists read-only-compatible features this code does not know: reading is
    /// fine, writing is refused.
    public var isReadOnly: Bool { !metadata.unknownReadOnlyFeatures.isEmpty }
    private let lock: File
    /// What writers have learned: fan-out directories that exist, and whether the file
    /// system has turned down fs-verity.
    private let state = Mutex(WriterState())
    private struct WriterState {
        var fanOuts = Set<String>()
        var noVerity = false
    }

    public var algorithm: FsVerityAlgorithm { metadata.algorithm }

    private init(path: String, metadata: RepositoryMetadata, insecure: Bool, access: Access, lock: File) {
        (self.path, self.metadata, self.isInsecure, self.access, self.lock) = (path, metadata, insecure, access, lock)
    }

    /// Creates the repository at `path` (mode 0700), or opens it if it exists with the same
    /// settings. Without `insecure`, `meta.json` gets fs-verity, which the file system must offer.
    public static func create(at path: String, metadata: RepositoryMetadata = RepositoryMetadata(), insecure: Bool = false) throws -> Repository {
        try FileSystem.makeDirectories(path, permissions: 0o700)
        let metaPath = path + "/meta.json"
        if FileSystem.exists(metaPath) {
            let existing = try open(at: path)
            guard existing.metadata == metadata, existing.isInsecure == insecure else {
                throw RepositoryError("\(path) is already a repository with other settings (\(existing.metadata.summary)\(existing.isInsecure ? ", insecure" : ""))")
            }
            return existing
        }
        guard try FileSystem.contents(of: path).isEmpty else {
            throw RepositoryError("\(path) is not empty and holds no meta.json: not a repository cairn can create")
        }
        let temporary = path + "/.#meta.json" + FileSystem.randomSuffix()
        defer { try? FileSystem.remove(temporary) }
        do {
            // Closed at the end of this block: fs-verity can be enabled only on a file no one has
            // open for writing.
            let file = try File.open(temporary, .readWrite, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try file.write(metadata.json(), at: 0)
            try file.synchronize()
        }
        if !insecure, let failure = try File.open(temporary, .readOnly).verityFailure(algorithm: UInt32(metadata.algorithm.rawValue)) {
            throw RepositoryError("cannot enable fs-verity on \(path)/meta.json (\(failure)): the file system does not offer it here; create the repository with --insecure")
        }
        try FileSystem.rename(temporary, to: metaPath)
        try FileSystem.synchronizeDirectory(containing: metaPath)
        for directory in ["objects", "streams", "images"] { try FileSystem.makeDirectories(path + "/" + directory, permissions: 0o755) }
        return try open(at: path)
    }

    /// Opens an existing repository, refusing a newer format version, an unknown incompatible
    /// feature, or (for writing) an unknown read-only-compatible one.
    public static func open(at path: String, access: Access = .shared) throws -> Repository {
        let metaPath = path + "/meta.json"
        guard FileSystem.exists(metaPath) else {
            throw RepositoryError("\(path) is not a composefs repository (no meta.json); create one with `cairn repo init`")
        }
        let lock = try File.open(path, .readOnly, options: [.directory])
        try FileSystem.lock(lock, exclusive: access == .exclusive)
        let meta = try File.open(metaPath, .readOnly)
        let metadata = try RepositoryMetadata(json: try meta.readAll(), path: metaPath)
        let insecure = meta.measureVerity(digestSize: metadata.algorithm.digestSize) == nil
        return Repository(path: path, metadata: metadata, insecure: insecure, access: access, lock: lock)
    }

    /// Throws unless this code may change the repository.
    public func requireWritable() throws {
        guard !isReadOnly else {
            throw RepositoryError("\(path) uses features cairn does not know (\(metadata.unknownReadOnlyFeatures.joined(separator: ", "))): it can be read, not changed")
        }
    }

    // MARK: Objects

    /// `objects/xx/yyyy…` for a digest.
    public func objectPath(_ digest: [UInt8]) -> String {
        path + "/objects/" + String(decoding: DirectorySource.objectPath(digest), as: UTF8.self)
    }

    public func hasObject(_ digest: [UInt8]) -> Bool { FileSystem.exists(objectPath(digest)) }

    /// Stores `bytes` as an object (unless it is there already) and returns its digest.
    @discardableResult
    public func storeObject(_ bytes: [UInt8]) throws -> [UInt8] {
        let digest = FsVerity.digest(of: bytes, algorithm: algorithm)
        if hasObject(digest) {
            try checkVerity(of: objectPath(digest), expecting: digest)
            return digest
        }
        let writer = try ObjectWriter(self)
        try writer.file!.write(bytes, at: 0)
        try writer.publish(digest: digest)
        return digest
    }

    /// A new object written piece by piece, its digest computed on the way (a layer's file
    /// content as it streams out of the tar): a file with no name (O_TMPFILE) in `objects/`, or
    /// a temporary name where the file system has no O_TMPFILE, until `commit`.
    public final class ObjectWriter {
        let repository: Repository
        /// The temporary name, when the file has one.
        private let temporary: String?
        var file: File?
        private var hasher: FsVerityHasher
        public private(set) var size: UInt64 = 0
        private var published = false

        public init(_ repository: Repository) throws {
            try repository.requireWritable()
            self.repository = repository
            let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
            if let unnamed = try File.unnamed(in: repository.path + "/objects", permissions: permissions) {
                (file, temporary) = (unnamed, nil)
            } else {
                let path = repository.path + "/objects/.#" + FileSystem.randomSuffix()
                (file, temporary) = (try File.open(path, .readWrite, options: [.create, .exclusiveCreate], permissions: permissions), path)
            }
            hasher = FsVerityHasher(repository.algorithm)
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            try file!.write(bytes, at: size)
            hasher.update(bytes)
            size += UInt64(bytes.count)
        }

        /// Publishes the object under the digest of what was written and returns that digest.
        public func commit() throws -> [UInt8] {
            let digest = hasher.finalize()
            try publish(digest: digest)
            return digest
        }

        /// Enables fs-verity (a secure repository requires it and checks the kernel's digest;
        /// an insecure one stops trying once the file system says it has none), then links the
        /// file into `objects/xx/`; an object someone else stored meanwhile is as good as this one.
        func publish(digest: [UInt8]) throws {
            defer {
                published = true
                file = nil
                if let temporary { try? FileSystem.remove(temporary) }
            }
            let target = repository.objectPath(digest)
            if repository.hasObject(digest) { return try repository.checkVerity(of: target, expecting: digest) }
            var named = file!
            if !repository.isInsecure || repository.mayHaveVerity {
                // fs-verity can be enabled only on a file no one has open for writing.
                named = try file!.reopenedReadOnly()
                file = nil
                let failure = named.verityFailure(algorithm: UInt32(repository.algorithm.rawValue))
                if let failure, [.notSupported, .inappropriateIOCTLForDevice].contains(failure) {
                    repository.noteNoVerity()
                }
                if !repository.isInsecure {
                    guard failure == nil, let measured = named.measureVerity(digestSize: repository.algorithm.digestSize) else {
                        throw RepositoryError("cannot enable fs-verity on a new object in \(repository.path)/objects (a secure repository needs it)")
                    }
                    guard measured == digest else {
                        throw RepositoryError("object \(Hex.encode(digest)) measured as \(Hex.encode(measured)) by the kernel: its source changed while it was stored")
                    }
                }
            }
            try repository.makeFanOut(for: target)
            let linked = if let temporary { try FileSystem.link(temporary, to: target) } else { try named.link(as: target) }
            if !linked { try repository.checkVerity(of: target, expecting: digest) }
        }

        deinit { if !published, let temporary { try? FileSystem.remove(temporary) } }
    }

    /// Whether enabling fs-verity is still worth trying in an insecure repository.
    var mayHaveVerity: Bool { state.withLock { !$0.noVerity } }
    func noteNoVerity() { state.withLock { $0.noVerity = true } }

    /// Creates `objects/xx/` for `target` unless it is known to exist.
    func makeFanOut(for target: String) throws {
        let directory = FileSystem.directory(of: target)
        let fanOut = FileSystem.lastComponent(of: directory)
        guard !state.withLock({ $0.fanOuts.contains(fanOut) }) else { return }
        try FileSystem.makeDirectories(directory, permissions: 0o755)
        state.withLock { _ = $0.fanOuts.insert(fanOut) }
    }

    /// Opens `images/<hex>` for mounting (the only place a repository mounts from); in a secure
    /// repository the file's measured fs-verity digest must be its name, checked on the very
    /// descriptor the mount then uses.
    public func openImage(_ hex: String) throws -> File {
        let path = path + "/images/" + hex
        guard FileSystem.exists(path), let digest = Hex.decode(hex), digest.count == algorithm.digestSize else {
            throw RepositoryError("\(path) is missing: the repository does not list the image as mountable")
        }
        let image = try File.open(path, .readOnly)
        try checkVerity(of: image, expecting: digest)
        return image
    }

    /// Mounts `images/<hex>` read-only at `target` as composefs does (`FileSystem.mountComposefs`,
    /// `objects/` as the data layer): the image checked by `openImage`, and in a secure
    /// repository every file's fs-verity digest required by overlayfs. Needs root.
    public func mountImage(_ hex: String, at target: String) throws {
        try FileSystem.mountComposefs(image: try openImage(hex), objects: path + "/objects", at: target, requireVerity: !isInsecure)
    }

    /// An object already at `target` in a secure repository must carry the digest it is named by.
    func checkVerity(of target: String, expecting digest: [UInt8]) throws {
        guard !isInsecure else { return }
        try checkVerity(of: try File.open(target, .readOnly), expecting: digest)
    }

    private func checkVerity(of file: File, expecting digest: [UInt8]) throws {
        guard isInsecure || file.measureVerity(digestSize: algorithm.digestSize) == digest else {
            throw RepositoryError("\(file.path) does not have the fs-verity digest its name says")
        }
    }

    /// The digest an `objects/xx/yyyy…` path or symlink target names (its last 2n+1 characters).
    public func digest(fromObjectPath target: String) -> [UInt8]? {
        let hexCount = algorithm.digestSize * 2
        let tail = Array(target.utf8.suffix(hexCount + 1))
        guard tail.count == hexCount + 1, tail[2] == UInt8(ascii: "/") else { return nil }
        return Hex.decode(String(decoding: tail[..<2] + tail[3...], as: UTF8.self))
    }

    // MARK: Streams and images

    /// Stores `stream` as an object, makes everything durable (`syncfs`: a visible stream name
    /// implies its objects are on disk), then points `streams/<name>` at it. Returns its digest.
    @discardableResult
    public func writeStream(_ stream: SplitStream, named name: String) throws -> [UInt8] {
        try requireWritable()
        try Self.checkName(name, in: "streams")
        let digest = try storeObject(stream.encoded())
        try FileSystem.synchronizeFileSystem(containing: path)
        let link = path + "/streams/" + name
        try FileSystem.replaceSymlink(at: link, target: "../objects/" + String(decoding: DirectorySource.objectPath(digest), as: UTF8.self))
        // Durable before any ref is made to point at it.
        try FileSystem.synchronizeDirectory(containing: link)
        return digest
    }

    /// The digest of the object `streams/<name>` points at, or nil if there is no such stream.
    public func streamDigest(named name: String) throws -> [UInt8]? {
        try Self.checkName(name, in: "streams")
        guard let target = FileSystem.readLink(path + "/streams/" + name) else { return nil }
        guard target.hasPrefix("../"), let digest = digest(fromObjectPath: target) else {
            throw RepositoryError("\(path)/streams/\(name) points at \(target), which is no object")
        }
        return digest
    }

    /// Reads the splitstream object `digest`, checking its content type when one is given.
    public func readStream(_ digest: [UInt8], contentType: UInt64? = nil) throws -> SplitStream {
        let objectPath = objectPath(digest)
        guard FileSystem.exists(objectPath) else { throw RepositoryError("splitstream object \(objectPath) is missing") }
        let stream: SplitStream
        do { stream = try SplitStream(decoding: try File.open(objectPath, .readOnly).readAll()) } catch let error as SplitStreamError {
            throw RepositoryError("splitstream object \(objectPath) is damaged: \(error)")
        }
        guard stream.algorithm == algorithm else {
            throw RepositoryError("splitstream object \(objectPath) uses \(stream.algorithm), the repository \(algorithm)")
        }
        if let contentType, stream.contentType != contentType {
            throw RepositoryError("splitstream object \(objectPath) has content type \(SplitStream.contentTypeName(stream.contentType)), not \(SplitStream.contentTypeName(contentType))")
        }
        return stream
    }

    /// Hands `body` the bytes `stream` stands for, in order: inline bytes as they are, each
    /// object whole (read in 1 MiB pieces).
    public func reassemble(_ stream: SplitStream, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        for chunk in stream.chunks {
            switch chunk {
            case .inline(let bytes):
                try bytes.withUnsafeBytes(body)
            case .external(let index):
                let object = try File.open(objectPath(stream.objectRefs[index]), .readOnly)
                var offset: UInt64 = 0
                while case let got = try object.read(into: buffer, at: offset), got > 0 {
                    try body(UnsafeRawBufferPointer(rebasing: buffer[..<got]))
                    offset += UInt64(got)
                }
            }
        }
    }

    /// Points `streams/refs/<ref>` at the stream `name` (by name, so rewriting the stream keeps the ref).
    public func setStreamRef(_ ref: String, to name: String) throws {
        try requireWritable()
        try Self.checkName(ref, in: "streams/refs", nested: true)
        try Self.checkName(name, in: "streams")
        let link = path + "/streams/refs/" + ref
        try FileSystem.makeDirectories(FileSystem.directory(of: link), permissions: 0o755)
        let depth = ref.split(separator: "/").count
        try FileSystem.replaceSymlink(at: link, target: String(repeating: "../", count: depth) + name)
    }

    /// Removes `streams/refs/<ref>`; says whether there was one.
    @discardableResult
    public func removeStreamRef(_ ref: String) throws -> Bool {
        try requireWritable()
        try Self.checkName(ref, in: "streams/refs", nested: true)
        let link = path + "/streams/refs/" + ref
        guard FileSystem.readLink(link) != nil else { return false }
        try FileSystem.remove(link)
        return true
    }

    /// The stream `streams/refs/<ref>` names, or nil if there is no such ref.
    public func streamRef(_ ref: String) throws -> String? {
        try Self.checkName(ref, in: "streams/refs", nested: true)
        return FileSystem.readLink(path + "/streams/refs/" + ref).map(FileSystem.lastComponent)
    }

    /// Every ref under `streams/refs/<prefix>` (relative to it) and the stream it names.
    public func streamRefs(under prefix: String) throws -> [(ref: String, stream: String)] {
        try Self.links(under: path + "/streams/refs/" + prefix).map { ($0.path, FileSystem.lastComponent(of: $0.target)) }
    }

    /// Makes the object `digest` (an EROFS image this repository made) mountable by name:
    /// `images/<hex>`.
    public func registerImage(_ digest: [UInt8]) throws {
        try requireWritable()
        let link = path + "/images/" + Hex.encode(digest)
        let target = "../objects/" + String(decoding: DirectorySource.objectPath(digest), as: UTF8.self)
        guard FileSystem.readLink(link) != target else { return }
        try FileSystem.synchronizeFileSystem(containing: path)
        try FileSystem.replaceSymlink(at: link, target: target)
    }

    /// Names are single path components (refs may nest with `/`), never `.`, `..` or empty, so
    /// nothing can point outside the repository.
    static func checkName(_ name: String, in place: String, nested: Bool = false) throws {
        let parts = nested ? name.split(separator: "/", omittingEmptySubsequences: false).map(String.init) : [name]
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && (nested || !$0.contains("/")) && !$0.contains("\0") }) else {
            throw RepositoryError("'\(name)' is not a valid name in \(place)")
        }
    }

    /// Symlinks under `directory`, recursively: path relative to it and target. `.#…` links
    /// (being replaced, or left by a crash) come only when `temporary` asks for them.
    static func links(under directory: String, temporary: Bool = false) throws -> [(path: String, target: String)] {
        guard try FileSystem.status(directory)?.isDirectory == true else { return [] }
        var found = [(path: String, target: String)]()
        var pending = [""]
        while let relative = pending.popLast() {
            let base = relative.isEmpty ? directory : directory + "/" + relative
            for name in try FileSystem.contents(of: base).sorted() {
                let child = relative.isEmpty ? name : relative + "/" + name
                if let target = FileSystem.readLink(base + "/" + name) {
                    if name.hasPrefix(".#") == temporary { found.append((child, target)) }
                } else if try FileSystem.status(base + "/" + name)?.isDirectory == true {
                    pending.append(child)
                }
            }
        }
        return found
    }
}

public struct RepositoryError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
