import CairnIO
import SystemPackage

/// An image read from a file with positioned reads, a piece at a time.
public struct FileImage: ImageBytes {
    public let file: File
    public let size: UInt64

    public init(path: String) throws {
        file = try File.open(path, .readOnly)
        size = try file.size()
    }

    public func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
        guard let bytes = try file.read(exactly: count, at: offset) else {
            throw ErofsError.io("\(file.path) ended before byte \(offset + UInt64(count))")
        }
        return bytes
    }
}
