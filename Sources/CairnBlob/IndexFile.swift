import CairnCasync
import CairnIO
import SystemPackage

/// Reading and writing index files, with errors that name the file.
public enum IndexFile {
    public static func read(_ path: String) throws -> BlobIndex {
        let bytes = try File.open(path, .readOnly).readAll()
        do {
            return try BlobIndex(decoding: bytes)
        } catch {
            throw BlobError.malformedIndex(path: path, problem: error.description)
        }
    }

    /// Writes the index so that it appears complete or not at all (and, when `durable`, survives a power cut).
    public static func write(_ index: BlobIndex, to path: String, durable: Bool = false) throws {
        try AtomicFile.write(index.encoded(), to: path, durable: durable)
    }

    /// casync's default store for an index: `default.castr` in the index's directory.
    public static func defaultStore(for indexPath: String) -> String {
        FileSystem.directory(of: indexPath) + "/default.castr"
    }
}
