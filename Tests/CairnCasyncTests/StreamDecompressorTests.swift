import CairnCasync
import Foundation
import Testing

/// Streaming gzip and zstd against the command-line tools' output.
@Suite struct StreamDecompressorTests {
    static func compressed(_ tool: [String], _ input: [UInt8]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = tool
        let stdin = Pipe(), stdout = Pipe()
        (process.standardInput, process.standardOutput) = (stdin, stdout)
        try process.run()
        let writer = Thread { stdin.fileHandleForWriting.write(Data(input)); try? stdin.fileHandleForWriting.close() }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](output)
    }

    static func decompress(_ bytes: [UInt8], pieces: Int) throws -> [UInt8] {
        let decompressor = try StreamDecompressor(try #require(StreamDecompressor.Format.detect(bytes)))
        var output = [UInt8]()
        let step = max(1, bytes.count / pieces)
        for start in stride(from: 0, to: bytes.count, by: step) {
            try bytes[start..<min(start + step, bytes.count)].withUnsafeBytes { piece in
                try decompressor.feed(piece) { output += $0 }
            }
        }
        try decompressor.finish()
        return output
    }

    /// Several MiB (more than one output buffer) fed whole and in small pieces.
    @Test(arguments: [["gzip", "-c"], ["zstd", "-q", "-c"]])
    func roundTrips(tool: [String]) throws {
        let input = (0..<3_000_000).map { UInt8(truncatingIfNeeded: ($0 * 2_654_435_761) >> 13) & 0x3F }
        let packed = try Self.compressed(tool, input)
        #expect(try Self.decompress(packed, pieces: 1) == input)
        #expect(try Self.decompress(packed, pieces: 997) == input)
    }

    /// Concatenated gzip members and frames are one stream; zeros after the last gzip member are
    /// padding; a cut stream is an error.
    @Test func membersPaddingAndTruncation() throws {
        let first = Array("first part\n".utf8), second = Array("second part\n".utf8)
        let members = try Self.compressed(["gzip", "-c"], first) + Self.compressed(["gzip", "-c"], second)
        #expect(try Self.decompress(members, pieces: 3) == first + second)
        #expect(try Self.decompress(members + [UInt8](repeating: 0, count: 1024), pieces: 2) == first + second)
        let frames = try Self.compressed(["zstd", "-q", "-c"], first) + Self.compressed(["zstd", "-q", "-c"], second)
        #expect(try Self.decompress(frames, pieces: 5) == first + second)
        let long = try Self.compressed(["zstd", "-q", "-c"], [UInt8](repeating: 7, count: 100_000) + first)
        #expect(throws: (any Error).self) { try Self.decompress(Array(long.dropLast(3)), pieces: 1) }
    }
}
