import CairnIO
import Dispatch
import Synchronization
import SystemPackage

/// fs-verity digests (SHA-256) of files handed over while a scan is still finding them: the scan
/// feeds batches, worker threads hash them, each through one reused read buffer. Files of at most
/// 64 bytes also come back whole (composefs images hold them inline).
final class FileHasher: Sendable {
    struct Job: Sendable {
        let path: [UInt8]
        let size: UInt64
    }
    typealias Digest = Result<(digest: [UInt8], inline: [UInt8]?), any Error>

    private struct Queue {
        var batches: [(first: Int, files: [Job])] = []
        var finished = false
        var digests: [Int: [Digest]] = [:]
    }
    private let queue = Mutex(Queue())
    private let available = DispatchSemaphore(value: 0)
    private static let readBufferSize = 4 << 20

    /// Queues `files`, the ones numbered `first...` in the order files are added.
    func add(_ files: [Job], first: Int) {
        guard !files.isEmpty else { return }
        queue.withLock { $0.batches.append((first, files)) }
        available.signal()
    }

    /// No more files will come: wakes every worker so it can stop once the queue is empty.
    func finish(workers: Int) {
        queue.withLock { $0.finished = true }
        for _ in 0..<workers { available.signal() }
    }

    /// Hashes queued batches until `finish` and an empty queue.
    func work() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 4096)
        defer { buffer.deallocate() }
        // One wakeup per batch and one per worker after `finish`: a worker woken to an empty
        // queue was woken by `finish`, and every batch has been taken.
        while true {
            available.wait()
            guard let batch = queue.withLock({ $0.batches.isEmpty ? nil : $0.batches.removeFirst() }) else { return }
            let digests = batch.files.map { file in Result { try Self.digest(file, buffer: buffer) } }
            queue.withLock { $0.digests[batch.first] = digests }
        }
    }

    /// Every digest, in the order the files were added (after every worker has returned).
    func digests() -> [Digest] {
        queue.withLock { queue in queue.digests.keys.sorted().flatMap { queue.digests[$0]! } }
    }

    private static func digest(_ file: Job, buffer: UnsafeMutableRawBufferPointer) throws -> (digest: [UInt8], inline: [UInt8]?) {
        let opened = try RawPath.open(file.path, .readOnly)
        let changed = FsVerityError(description: "\(opened.path) changed size while the image was being made")
        guard try opened.size() == file.size else { throw changed }
        guard file.size <= UInt64(ComposefsImage.inlineContentLimit) else {
            return (try FsVerity.digest(of: opened, size: file.size, algorithm: .sha256, buffer: buffer), nil)
        }
        guard let inline = try opened.read(exactly: Int(file.size), at: 0) else { throw changed }
        return (FsVerity.digest(of: inline, algorithm: .sha256), inline)
    }
}
