import Foundation
import Testing

/// Runs the built `cairn` binary and its peers (casync, mkfs.erofs) in scratch directories.

struct Run {
    let status: Int32
    let stdout: String
    let stderr: String

    var succeeded: Bool { status == 0 }
}

/// The cairn binary under test: `$CAIRN`, else the debug build of this package.
let cairnPath: String = {
    if let path = ProcessInfo.processInfo.environment["CAIRN"] { return path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/cairn").path
}()

/// A process started without waiting for it, so that a test can kill it or run several at once.
final class Started {
    let process = Process()
    private let outputs: Scratch
    private let out: FileHandle
    private let err: FileHandle

    init(_ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws {
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/\(executable)")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        // Files, not pipes: a chatty child can never block on a full pipe.
        outputs = try Scratch()
        FileManager.default.createFile(atPath: outputs.file("out"), contents: nil)
        FileManager.default.createFile(atPath: outputs.file("err"), contents: nil)
        out = try FileHandle(forWritingTo: URL(fileURLWithPath: outputs.file("out")))
        err = try FileHandle(forWritingTo: URL(fileURLWithPath: outputs.file("err")))
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    func kill() { Foundation.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the process to end and returns what it printed.
    func wait() throws -> Run {
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Run(status: process.terminationStatus, stdout: String(decoding: try outputs.read("out"), as: UTF8.self),
                   stderr: String(decoding: try outputs.read("err"), as: UTF8.self))
    }
}

@discardableResult
func run(_ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> Run {
    try Started(executable, arguments, in: directory, environment: environment).wait()
}

@discardableResult
func cairn(_ arguments: String..., in directory: String? = nil) throws -> Run {
    try run(cairnPath, arguments, in: directory)
}

@discardableResult
func casync(_ arguments: String..., in directory: String? = nil) throws -> Run {
    try run("casync", arguments, in: directory)
}

/// A temporary directory removed when the test ends.
final class Scratch {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name)))) }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    /// Names in a directory (relative to the scratch root), recursively.
    func listing(_ name: String = ".") -> [String] {
        (FileManager.default.enumerator(atPath: file(name))?.allObjects as? [String] ?? []).sorted()
    }

    /// The chunk files of a store, as paths relative to the scratch root.
    func chunkFiles(_ store: String) -> [String] {
        listing(store).filter { $0.contains("/") && !$0.hasSuffix(".tmp") }.map { store + "/" + $0 }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so inputs differ per seed but not per run.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var i = 0
        while i < count {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            var word = state &* 0x2545_F491_4F6C_DD1D
            for _ in 0..<8 where i < count {
                raw[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
    }
    return bytes
}

/// Random data with long zero runs and repeated blocks, like a file system image.
func imageLikeBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var bytes = randomBytes(count, seed: seed)
    let block = Array(bytes[0..<min(40000, count)])
    var offset = count / 7
    while offset + 300_000 < count {
        for i in offset..<(offset + 300_000) { bytes[i] = 0 }
        bytes.replaceSubrange((offset + 300_000)..<min(offset + 300_000 + block.count, count), with: block.prefix(count - offset - 300_000))
        offset += count / 3
    }
    return bytes
}

func sha256sum(_ path: String) throws -> String {
    String(try run("sha256sum", [path]).stdout.prefix(64))
}

/// An EROFS image mounted read-only on a loop device at `path`; unmounted when released.
final class ErofsMount {
    let path: String

    init(image: String, at path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try run("/usr/bin/env", ["mount", "-t", "erofs", "-o", "ro,loop", image, path])
        #expect(mounted.succeeded, "\(mounted.stderr)")
    }

    deinit { _ = try? run("/usr/bin/env", ["umount", path]) }
}

/// A composefs image mounted as composefs mounts it: the EROFS image (loop), then overlayfs with
/// the object directory as a data-only lower layer. Unmounted when released.
final class ComposefsMount {
    let path: String
    private let layer: ErofsMount

    init(image: String, objects: String, in scratch: Scratch, label: String = "") throws {
        layer = try ErofsMount(image: image, at: scratch.file("layer" + label))
        path = scratch.file("merged" + label)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let overlay = try run("/usr/bin/env", ["mount", "-t", "overlay", "overlay", "-o", "ro,metacopy=on,redirect_dir=on,lowerdir=\(layer.path)::\(objects)", path])
        #expect(overlay.succeeded, "\(overlay.stderr)")
    }

    // The overlay goes before the layer under it (`layer` is released after this runs).
    deinit { _ = try? run("/usr/bin/env", ["umount", path]) }
}
