import CairnComposefs
import Dispatch

/// Writes a layer's file objects on a thread of its own, in order, while the layer's tar is
/// still being decompressed and read: the object's fs-verity hashing and its writes overlap the
/// decompression. At most 32 pieces (of up to 1 MiB) wait at a time.
final class ObjectPipeline: @unchecked Sendable {
    /// Objects up to this size are gathered in memory and hashed before anything is written, so
    /// one the repository already holds (most of a new version's files) costs no write at all.
    static let bufferedSize = 1 << 20

    // Everything below is touched only on `queue` (a serial queue), except `capacity`.
    private let queue = DispatchQueue(label: "cairn.layer-objects")
    private let capacity = DispatchSemaphore(value: 32)
    private let repository: Repository
    /// The current object: its bytes while they fit in `bufferedSize`; past that, `writer`'s
    /// file holds them (and the rest).
    private var buffered = [UInt8]()
    private var writer: Repository.ObjectWriter?
    private var digests = [[UInt8]]()
    private var failure: (any Error)?

    init(_ repository: Repository) { self.repository = repository }

    /// Starts the next object (objects are numbered from 0 in the order they are begun).
    func begin() {
        queue.async { [self] in
            buffered.removeAll(keepingCapacity: true)
            writer = nil
        }
    }

    /// Appends a piece to the current object; waits while the queue is full.
    func write(_ piece: [UInt8]) {
        capacity.wait()
        queue.async { [self] in
            defer { capacity.signal() }
            guard failure == nil else { return }
            do {
                if writer == nil && buffered.count + piece.count <= Self.bufferedSize {
                    buffered.append(contentsOf: piece)
                    return
                }
                if writer == nil {
                    let spilled = try Repository.ObjectWriter(repository)
                    try buffered.withUnsafeBytes { try spilled.write($0) }
                    buffered.removeAll(keepingCapacity: true)
                    writer = spilled
                }
                try piece.withUnsafeBytes { try writer!.write($0) }
            } catch { failure = error }
        }
    }

    /// Ends the current object: it is published under its digest.
    func end() {
        queue.async { [self] in
            defer { writer = nil }
            guard failure == nil else { return }
            do {
                if let writer {
                    digests.append(try writer.commit())
                } else {
                    digests.append(try repository.storeObject(buffered))
                }
            } catch { failure = error }
        }
    }

    /// Waits for every object and returns their digests in order, or the first error.
    func finish() throws -> [[UInt8]] {
        try queue.sync {
            if let failure { throw failure }
            return digests
        }
    }
}
