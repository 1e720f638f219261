@preconcurrency import Glibc
import CairnCasync
import CairnIO
import SystemPackage

/// A casync chunk store in a local directory: `<root>/<4 hex>/<64 hex>.cacnk` for compressed
/// chunks, the same name without the suffix for uncompressed ones (casync.md §3).
///
/// Chunks are written as casync writes them: to `<id>.<16 hex>.tmp`, mode 0444, then renamed into
/// place, so a chunk is either complete or absent, even after `kill -9`.
public struct LocalChunkStore: WritableChunkStore {
    public static let compressedSuffix = ".cacnk"
    static let temporarySuffix = ".tmp"

    public let root: String

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var description: String { root }

    func directory(of id: ChunkID) -> String { root + "/" + String(id.hex.prefix(4)) }

    public func path(of id: ChunkID, isCompressed: Bool) -> String {
        directory(of: id) + "/" + id.hex + (isCompressed ? Self.compressedSuffix : "")
    }

    public func fetch(_ id: ChunkID) async throws -> StoredChunk? {
        for isCompressed in [true, false] {
            let path = path(of: id, isCompressed: isCompressed)
            do {
                // O_NOFOLLOW: casync marks known-missing chunks with a symlink to /dev/null.
                let file = try File.open(path, .readOnly, options: .noFollow)
                return StoredChunk(bytes: try file.readAll(), isCompressed: isCompressed)
            } catch let error as SystemError where error.errno == .noSuchFileOrDirectory || error.errno == .tooManySymbolicLinkLevels {
                continue
            }
        }
        return nil
    }

    public func contains(_ id: ChunkID) async throws -> Bool {
        FileSystem.exists(path(of: id, isCompressed: true)) || FileSystem.exists(path(of: id, isCompressed: false))
    }

    /// Bumps the chunk file's modification time: one syscall that also says whether it exists.
    public func markUsed(_ id: ChunkID) async throws -> Bool {
        for isCompressed in [true, false] {
            let path = path(of: id, isCompressed: isCompressed)
            if utimensat(AT_FDCWD, path, nil, AT_SYMLINK_NOFOLLOW) == 0 { return true }
            guard errno == ENOENT || errno == ENOTDIR else { throw SystemError("update the time of", path, Errno(rawValue: errno)) }
        }
        return false
    }

    public func store(_ id: ChunkID, bytes: [UInt8], isCompressed: Bool) async throws {
        let final = path(of: id, isCompressed: isCompressed)
        let temporary = final.dropLast(isCompressed ? Self.compressedSuffix.count : 0) + "." + FileSystem.randomSuffix() + Self.temporarySuffix
        let file: File
        do {
            file = try File.open(String(temporary), .writeOnly, options: [.create, .exclusiveCreate], permissions: .init(rawValue: 0o444))
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            // The prefix directory is made on demand, which saves a mkdir per chunk.
            try FileSystem.makeDirectories(directory(of: id))
            file = try File.open(String(temporary), .writeOnly, options: [.create, .exclusiveCreate], permissions: .init(rawValue: 0o444))
        }
        do {
            try file.write(bytes, at: 0)
            try FileSystem.rename(file.path, to: final)
        } catch {
            try? FileSystem.remove(file.path)
            throw error
        }
    }

    public func remove(_ id: ChunkID, isCompressed: Bool) async throws {
        try FileSystem.remove(path(of: id, isCompressed: isCompressed))
        FileSystem.removeEmptyDirectory(directory(of: id))
    }

    public func list() async throws -> [ChunkListing] {
        guard FileSystem.exists(root) else { return [] }
        var listings = [ChunkListing]()
        for prefix in try FileSystem.contents(of: root).sorted() where Self.isPrefix(prefix) {
            let directory = root + "/" + prefix
            for name in try FileSystem.contents(of: directory) {
                let isCompressed = name.hasSuffix(Self.compressedSuffix)
                let idText = isCompressed ? name.dropLast(Self.compressedSuffix.count) : Substring(name)
                guard idText.hasPrefix(prefix), let id = ChunkID(hex: idText),
                    let status = try FileSystem.status(directory + "/" + name), status.isRegular
                else { continue }
                listings.append(ChunkListing(id: id, isCompressed: isCompressed, size: status.size, modified: status.modified))
            }
        }
        return listings
    }

    public func removeTemporaryFiles(modifiedBefore cutoff: Double) async throws -> Int {
        guard FileSystem.exists(root) else { return 0 }
        var removed = 0
        for prefix in try FileSystem.contents(of: root) where Self.isPrefix(prefix) {
            let directory = root + "/" + prefix
            for name in try FileSystem.contents(of: directory) where name.hasSuffix(Self.temporarySuffix) {
                let path = directory + "/" + name
                if let status = try FileSystem.status(path), status.modified < cutoff {
                    try FileSystem.remove(path)
                    removed += 1
                }
            }
            FileSystem.removeEmptyDirectory(directory)
        }
        return removed
    }

    private static func isPrefix(_ name: String) -> Bool {
        name.utf8.count == 4 && name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
