import CairnBlob
import CairnCasync
import CairnIO
import CairnStores
import SystemPackage

/// What `repair` did.
public struct RepairReport: Sendable, Codable {
    public var builds: [String] = []
    /// Chunks uploaded from the local cache, and cut again from images.
    public var fromCache = 0
    public var fromImages = 0
    /// Chunks found damaged (with `deep`) and removed before being put back.
    public var corruptRemoved = 0
    public var imagesUploaded: [String] = []
    /// Problems no source could fix, each naming the object.
    public var unrepaired: [String] = []
}

/// Puts back what the refs' builds lack in the bucket: chunks from the local cache (verified
/// first) or cut again from the images given, and images whose SHA-256 matches the manifest.
/// With `deep`, every chunk the builds reference is downloaded and verified first, and a damaged
/// one is removed so that a good copy can take its place (immutable writes never overwrite).
public struct Repairer: Sendable {
    public let walk: BucketWalk
    public let cache: String?
    public let images: [String]
    public let deep: Bool
    public let jobs: Int

    public init(walk: BucketWalk, cache: String?, images: [String], deep: Bool = false, jobs: Int) {
        (self.walk, self.cache, self.images, self.deep, self.jobs) = (walk, cache, images, deep, jobs)
    }

    public func run(refs: [String]) async throws -> RepairReport {
        var report = RepairReport()
        let bucket = walk.bucket, layout = walk.layout
        let chunks = bucket.chunkStore(prefix: layout.chunks)
        var held = try await walk.heldChunks()
        // Each image's SHA-256, computed once, for images missing from the bucket.
        var imageDigests = [String: String]()
        for path in images { imageDigests[path] = try BlobDigest.ofFile(path, digest: .sha256).hex }

        for ref in refs {
            let pointer = try await Refs.current(ref, layout: layout, from: bucket)
            let check = try await BuildChecker.check(pointer.build, layout: layout, in: bucket, held: held)
            report.builds.append(pointer.build)
            guard let manifest = check.manifest else {
                report.unrepaired += check.problems
                continue
            }
            if check.imageMissing {
                if let path = imageDigests.first(where: { $0.value == manifest.image.sha256 })?.key {
                    try await bucket.upload(file: path, to: manifest.image.key, condition: .absent)
                    report.imagesUploaded.append(manifest.image.key)
                } else {
                    report.unrepaired.append("\(manifest.image.key) is missing and no --image has its SHA-256")
                }
            }
            guard let index = check.index else {
                // The check stopped at the index, so its last problem says what is wrong with it.
                report.unrepaired += check.problems.suffix(1)
                continue
            }
            if deep {
                let damaged = try await removeDamaged(of: index, held: held, from: chunks)
                report.corruptRemoved += damaged.count
                held.subtract(damaged)
            }
            var missing = Dictionary(index.chunks.filter { !held.contains($0.id) }.map { ($0.id, $0.size) }) { first, _ in first }
            if missing.isEmpty { continue }

            if let cache {
                let wanted = missing.map { (id: $0.key, size: $0.value) }
                let outcomes = try await ChunkCopier(from: LocalChunkStore(root: cache), to: chunks, digest: index.digest).copy(wanted)
                let found = zip(wanted, outcomes).compactMap { chunk, outcome -> ChunkID? in
                    if case .copied = outcome { chunk.id } else { nil }
                }
                report.fromCache += found.count
                for id in found { missing[id] = nil; held.insert(id) }
            }
            for path in images where !missing.isEmpty {
                let cut = try await cutAgain(path, like: index, wanted: missing, into: chunks)
                report.fromImages += cut.count
                for id in cut { missing[id] = nil; held.insert(id) }
            }
            if !missing.isEmpty {
                report.unrepaired.append("\(missing.count) chunks of build \(pointer.build) are in neither the cache nor the images given")
            }
        }
        return report
    }

    /// Downloads and verifies the index's chunks in the bucket; removes and returns the damaged ones.
    private func removeDamaged(of index: BlobIndex, held: Set<ChunkID>, from chunks: any WritableChunkStore) async throws -> [ChunkID] {
        var seen = Set<ChunkID>()
        let present = index.chunks.filter { held.contains($0.id) && seen.insert($0.id).inserted }
        // The fetcher reads a bad chunk twice before it calls it corrupt: the first copy may have been a bad transfer.
        let fetcher = ChunkFetcher(stores: [chunks], digest: index.digest)
        let damaged = try await mapConcurrently(present, width: chunks.concurrentRequests) { chunk -> ChunkID? in
            do {
                _ = try await fetcher.fetch(chunk.id, size: chunk.size, decompressor: ChunkDecompressor())
                return nil
            } catch BlobError.corruptChunk {
                try await chunks.remove(chunk.id, isCompressed: true)
                return chunk.id
            }
        }
        return damaged.compactMap { $0 }
    }

    /// Chunks `path` as the index was chunked and uploads the wanted chunks it holds.
    private func cutAgain(_ path: String, like index: BlobIndex, wanted: [ChunkID: Int], into chunks: any WritableChunkStore) async throws -> [ChunkID] {
        let image = try File.open(path, .readOnly)
        var seen = Set<ChunkID>()
        let found = try await MakeEngine(options: MakeOptions(chunkingLike: index, jobs: jobs), store: nil).chunks(of: path).chunks.filter { wanted[$0.id] != nil && seen.insert($0.id).inserted }
        return try await mapConcurrently(found, width: chunks.concurrentRequests) { chunk in
            guard let bytes = try image.read(exactly: chunk.size, at: chunk.start), index.digest.hash(bytes) == chunk.id else {
                throw ReleaseError.integrity("\(path) changed while it was being read")
            }
            let compressed = bytes.withUnsafeBytes { ChunkCompressor().compress($0) }
            try await chunks.store(chunk.id, bytes: compressed, isCompressed: true)
            return chunk.id
        }
    }
}
