import CairnCasync
import CairnIO
import SystemPackage

/// Turns a tar source into a file that can be read at any offset: a plain archive is used as it
/// is; a compressed one, or one on standard input, is unpacked to a temporary file first.
enum TarSpool {
    static func seekableArchive(_ source: String, near output: String) throws -> (path: String, isTemporary: Bool) {
        let input = source == "-" ? nil : try File.open(source, .readOnly)
        var head = [UInt8](repeating: 0, count: 4)
        let headCount = try input.map { file in try head.withUnsafeMutableBytes { try file.read(into: $0, at: 0) } } ?? 0
        let format = StreamDecompressor.Format.detect(head[..<headCount])
        if let input, format == nil { return (input.path, false) }

        let temporary = FileSystem.directory(of: output) + "/." + FileSystem.lastComponent(of: output) + ".tar-" + FileSystem.randomSuffix()
        let spool = try File.open(temporary, .readWrite, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite])
        do {
            var written: UInt64 = 0
            let decompressor = try format.map(StreamDecompressor.init)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var offset: UInt64 = 0
            // Standard input is sniffed once its first four bytes are in (a pipe may give fewer at first).
            var prelude: [UInt8]? = input == nil ? [] : nil
            var pending: StreamDecompressor?
            func emit(_ piece: UnsafeRawBufferPointer) throws {
                if let active = decompressor ?? pending {
                    try active.feed(piece) { output in
                        try spool.write(output, at: written)
                        written += UInt64(output.count)
                    }
                } else {
                    try spool.write(piece, at: written)
                    written += UInt64(piece.count)
                }
            }
            while true {
                let count: Int = try buffer.withUnsafeMutableBytes { raw in
                    if let input { return try input.read(into: raw, at: offset) }
                    return try FileDescriptor.standardInput.read(into: raw)
                }
                offset += UInt64(count)
                if var head = prelude {
                    head += buffer[..<count]
                    if head.count < 4 && count > 0 {
                        prelude = head
                        continue
                    }
                    prelude = nil
                    pending = try StreamDecompressor.Format.detect(head).map(StreamDecompressor.init)
                    try head.withUnsafeBytes(emit)
                    if count == 0 { break }
                    continue
                }
                if count == 0 { break }
                try buffer.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
            try (decompressor ?? pending)?.finish()
            return (temporary, true)
        } catch {
            try? FileSystem.remove(temporary)
            throw CommandFailure("\(source == "-" ? "standard input" : source): \(error)")
        }
    }
}
