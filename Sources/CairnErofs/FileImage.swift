import CairnIO
import SystemPackage

/// An image read from a file with positioned reads, a piece at a time.
public struct FileImage: ImageBytes {
    public let file: File
    public let size: UInt64

    public init(path: String) throws {
        try self.init(file: try File.open(path, .readOnly))
    }

    /// The image in a file already open (and checked, for a mount: see `Repository.openImage`).
    public init(file: File) throws {
        self.file = file
        size = try file.size()
    }

    public func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
        guard let bytes = try file.read(exactly: count, at: offset) else {
            throw ErofsError.io("\(file.path) ended before byte \(offset + UInt64(count))")
        }
        return bytes
    }
}
