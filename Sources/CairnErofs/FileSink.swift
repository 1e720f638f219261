import CairnIO
import SystemPackage

/// An image written to a file front to back: metadata and small blocks through a buffer, file
/// data copied by the kernel (`copy_file_range`, a reflink where blocks can be shared).
public struct FileSink: ImageSink {
    public let file: File
    public private(set) var offset: UInt64 = 0
    private var buffer: [UInt8] = []

    public init(_ file: File) { self.file = file }

    public mutating func append(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    public mutating func appendFile(_ path: [UInt8], offset sourceOffset: UInt64, count: UInt64) throws {
        try flush()
        try file.copy(count, from: try RawPath.open(path, .readOnly), at: sourceOffset, to: offset)
        offset += count
    }

    /// Writes what is buffered; call once at the end.
    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try file.write(buffer, at: offset)
        offset += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }
}
