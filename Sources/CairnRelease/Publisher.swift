import CairnBlob
import CairnCasync
import CairnIO
import CairnStores
import SystemPackage

/// What `publish` works on and where it puts things.
public struct PublishOptions: Sendable {
    public var image: String
    public var build: BuildIdentity
    /// Already made safe for a key.
    public var ref: String
    public var layout: BucketLayout
    public var sizes: ChunkSizes
    /// The local chunk cache (a casync store) that CI keeps between runs.
    public var cache: String
    /// Where the artifacts go: manifest, index, dedupe figures, checksums.
    public var out: String
    /// The bucket; nil makes a dry run.
    public var bucket: (any ObjectStore)?
    /// The public base URL in front of the bucket, for the smoke extraction after upload.
    public var publicSource: (any ObjectSource)?
    public var inputs: [String: String] = [:]
    public var tool: String
    public var actor: String?
    public var jobs = defaultJobs

    public init(image: String, build: BuildIdentity, ref: String, layout: BucketLayout, sizes: ChunkSizes, cache: String, out: String, tool: String) {
        (self.image, self.build, self.ref, self.layout, self.sizes, self.cache, self.out, self.tool) =
            (image, build, ref, layout, sizes, cache, out, tool)
    }
}

/// What a publish did.
public struct PublishReport: Sendable, Codable {
    /// The manifest in the bucket (an equivalent one from an earlier run of the same build is kept).
    public var manifest: ComposeManifest
    public var manifestKey: String
    public var published = false
    /// Chunks and compressed bytes this run uploaded (a re-run uploads only what is still missing).
    public var uploadedChunks = 0
    public var uploadedBytes: UInt64 = 0
    /// Whether this run moved the ref (false when it already named the build or a newer one).
    public var refMoved = false
    /// Why the ref was not moved, when it names a newer build.
    public var refNote: String?
    public var artifacts: [String] = []
}

/// The producer flow of seed 000, in its order: chunk the image into the local cache and write
/// the index; check it (the index's blob has the image's digests, by a smoke extraction);
/// measure what the bucket lacks; upload those chunks, then the immutable index, manifest and
/// image; extract once more from what was uploaded; and only then move the ref by
/// compare-and-swap. A failure at any step leaves the ref where it was; a re-run converges.
public struct Publisher: Sendable {
    public let options: PublishOptions
    /// Step messages for a person reading the log.
    public let log: @Sendable (String) -> Void

    public init(options: PublishOptions, log: @escaping @Sendable (String) -> Void = { _ in }) {
        (self.options, self.log) = (options, log)
    }

    public func run() async throws -> PublishReport {
        try FileSystem.makeDirectories(options.out)
        try FileSystem.makeDirectories(options.cache)
        // The image's bytes go to the bucket while it is chunked; the object appears only after
        // its manifest (see `commitImage`).
        let staging = Task { try await stageImage(in: options.bucket) }
        do {
            return try await publish(stagedImage: staging)
        } catch {
            staging.cancel()
            if case .staged(let staged)? = try? await staging.value { await staged.discard() }
            throw error
        }
    }

    private func publish(stagedImage: Task<StagedImage?, any Error>) async throws -> PublishReport {
        let build = options.build.id
        let layout = options.layout
        log("chunking into the cache \(options.cache)")
        let indexPath = options.out + "/compose-\(build).caibx"
        var makeOptions = MakeOptions()
        makeOptions.sizes = options.sizes
        makeOptions.jobs = options.jobs
        makeOptions.alsoDigests = [.sha256]
        let cache = LocalChunkStore(root: options.cache)
        let made = try await MakeEngine(options: makeOptions, store: cache).run(input: options.image, index: indexPath)
        // The same pass gave the casync digest (SHA-512/256, the index's digest) and the SHA-256.
        let imageDigests = [ChunkID(hex: made.otherDigests[0])!, ChunkID(hex: made.blobDigest)!]
        let imageSize = made.blobSize
        let index = try IndexFile.read(indexPath)
        let indexBytes = try File.open(indexPath, .readOnly).readAll()

        // The smoke extraction from the cache works on local disk and CPU while the bucket is
        // asked and written to; nothing moves the ref before it has passed.
        log("smoke extraction from the cache")
        async let cacheChecked: Void = smokeExtract(index, from: [cache], expecting: imageDigests, source: "the cache \(options.cache)")

        let unique = Self.uniqueChunks(of: index)
        var dedupe: DedupeFigures
        var missing = [BlobIndex.Chunk]()
        var current: (pointer: RefPointer, etag: String)?
        if let bucket = options.bucket {
            log("comparing with \(bucket)")
            let held = Set(try await bucket.chunkStore(prefix: layout.chunks).list().map(\.id))
            dedupe = DedupeFigures(measuredAgainst: "\(bucket)/\(layout.chunks)")
            missing = unique.filter { !held.contains($0.id) }
            dedupe.newChunks = missing.count
            dedupe.newBytes = missing.reduce(0) { $0 + UInt64($1.size) }
            current = try await Refs.read(options.ref, layout: layout, from: bucket)
        } else {
            dedupe = DedupeFigures(measuredAgainst: options.cache)
            dedupe.newChunks = made.newChunks
            dedupe.newBytes = made.newChunkBytes
        }
        dedupe.reusedChunks = unique.count - dedupe.newChunks
        dedupe.reusedBytes = unique.reduce(0) { $0 + UInt64($1.size) } - dedupe.newBytes

        let manifest = ComposeManifest(
            build: .init(id: build, run: options.build.run, attempt: options.build.attempt, sha: options.build.sha),
            ref: options.ref,
            image: .init(key: layout.image(build), size: imageSize, sha256: imageDigests[0].hex, casyncDigest: imageDigests[1].hex),
            index: .init(
                key: layout.index(build), sha256: DigestAlgorithm.sha256.hash(indexBytes).hex,
                chunkSize: "\(options.sizes.min):\(options.sizes.avg):\(options.sizes.max)", digest: index.digest.rawValue,
                chunks: index.chunks.count, uniqueChunks: unique.count),
            dedupe: dedupe, inputs: options.inputs, tool: options.tool,
            // A re-run after the ref already moved keeps the parent the first run recorded.
            parent: current.flatMap { $0.pointer.build == build ? $0.pointer.previous : $0.pointer.build })
        var report = PublishReport(manifest: manifest, manifestKey: layout.manifest(build))
        report.artifacts = try writeArtifacts(manifest, indexPath: indexPath)
        guard let bucket = options.bucket else {
            try await cacheChecked
            return report
        }

        // The index and manifest go first: the manifest names the image's SHA-256 before the image
        // exists, so a re-run can trust an image it finds. Chunks and image then go side by side.
        log("uploading the index and manifest")
        try await putImmutable(manifest.index.key, bytes: indexBytes, in: bucket)
        report.manifest = try await putManifest(manifest, in: bucket)
        log("uploading \(missing.count) chunks and the image")
        async let imageUploaded: Void = commitImage(try await stagedImage.value, to: manifest.image.key, size: imageSize, in: bucket)
        let copier = ChunkCopier(from: cache, to: bucket.chunkStore(prefix: layout.chunks), digest: index.digest)
        for (chunk, outcome) in zip(missing, try await copier.copy(missing.map { ($0.id, $0.size) })) {
            switch outcome {
            case .copied(let storedBytes):
                report.uploadedChunks += 1
                report.uploadedBytes += UInt64(storedBytes)
            case .missing:
                throw ReleaseError.missing(key: "chunk \(chunk.id)", store: cache.description)
            case .corrupt(let problem):
                throw BlobError.corruptChunk(id: chunk.id, store: cache.description, problem: problem)
            }
        }
        try await imageUploaded
        try await cacheChecked

        let source: any ObjectSource = options.publicSource ?? bucket
        log("smoke extraction from \(source)")
        guard let uploadedIndex = try await source.get(manifest.index.key) else {
            throw ReleaseError.missing(key: manifest.index.key, store: source.description)
        }
        guard uploadedIndex.bytes == indexBytes else {
            throw ReleaseError.integrity("\(manifest.index.key) read back from \(source) differs from the index just uploaded")
        }
        try await smokeExtract(index, from: [source.chunkSource(prefix: layout.chunks)], expecting: imageDigests, source: "\(source)")

        report.refMoved = try await Refs.move(
            options.ref, to: build, layout: layout, in: bucket, current: current, action: "publish", actor: options.actor
        ) { pointer in
            // A late or re-run older build must not take the ref back from a newer one.
            guard let manifest = try? await ComposeManifest.read(pointer.build, layout: layout, from: bucket),
                Self.isNewer(manifest.build, than: options.build)
            else { return true }
            report.refNote = "\(options.ref) names the newer build \(pointer.build) (run \(manifest.build.run), attempt \(manifest.build.attempt)); left alone"
            return false
        }
        log(report.refMoved ? "\(layout.latest(options.ref)) now names \(build)" : report.refNote ?? "\(layout.latest(options.ref)) already names \(build)")
        report.published = true
        return report
    }

    /// Whether `build` comes from a later CI run (or a later attempt of the same run) than `other`;
    /// false when the runs are not numbers.
    static func isNewer(_ build: ComposeManifest.Build, than other: BuildIdentity) -> Bool {
        guard let run = UInt64(build.run), let otherRun = UInt64(other.run) else { return false }
        if run != otherRun { return run > otherRun }
        guard let attempt = UInt64(build.attempt), let otherAttempt = UInt64(other.attempt) else { return false }
        return attempt > otherAttempt
    }

    enum StagedImage {
        /// An earlier run of this build uploaded it (the manifest, written first, names its SHA-256).
        case present(ObjectInfo)
        case staged(any StagedObject)
    }

    /// Sends the image's bytes unless the bucket holds it already.
    private func stageImage(in bucket: (any ObjectStore)?) async throws -> StagedImage? {
        guard let bucket else { return nil }
        let key = options.layout.image(options.build.id)
        if let existing = try await bucket.head(key) { return .present(existing) }
        return .staged(try await bucket.stage(file: options.image, to: key))
    }

    /// Makes the staged image visible, after its manifest; only its size can be checked cheaply
    /// against one that is already there.
    private func commitImage(_ image: StagedImage?, to key: String, size: UInt64, in bucket: any ObjectStore) async throws {
        var existing: ObjectInfo?
        switch image {
        case .present(let info): existing = info
        case .staged(let staged): if try await !staged.commit(condition: .absent) { existing = try await bucket.head(key) }
        case nil: preconditionFailure("a bucket publish stages its image")
        }
        if let existing, existing.size != size {
            throw ReleaseError.conflict(key: key, store: bucket.description, problem: "it holds \(existing.size) bytes, the image \(size)")
        }
    }

    /// Each chunk once, in index order.
    static func uniqueChunks(of index: BlobIndex) -> [BlobIndex.Chunk] {
        var seen = Set<ChunkID>()
        return index.chunks.filter { seen.insert($0.id).inserted }
    }

    /// Rebuilds the image from `stores` beside the artifacts and checks it against the image's SHA-256.
    private func smokeExtract(_ index: BlobIndex, from stores: [any ChunkStore], expecting digests: [ChunkID], source: String) async throws {
        let path = options.out + "/.smoke-" + FileSystem.randomSuffix() + ".ero"
        defer { try? FileSystem.remove(path) }
        var extract = ExtractOptions(fetcher: ChunkFetcher(stores: stores, digest: index.digest))
        extract.jobs = options.jobs
        // The same SHA-256 means the same bytes, so the casync digest (digests[1]) matches too.
        extract.expectedSHA256 = digests[0]
        do {
            _ = try await ExtractEngine(options: extract).run(index: index, output: path)
        } catch let error as BlobError {
            throw ReleaseError.integrity("the smoke extraction from \(source) failed: \(error)")
        }
    }

    /// Writes an object that must never change: the same bytes again are fine, other bytes are an error.
    private func putImmutable(_ key: String, bytes: [UInt8], in bucket: any ObjectStore) async throws {
        // A lost race reported by a write that then failed (409) leaves nothing: write again.
        for _ in 0..<2 {
            if try await bucket.put(key, bytes: bytes, condition: .absent) { return }
            guard let existing = try await bucket.get(key) else { continue }
            guard existing.bytes == bytes else {
                throw ReleaseError.conflict(key: key, store: bucket.description, problem: "its bytes differ")
            }
            return
        }
        throw ReleaseError.missing(key: key, store: bucket.description)
    }

    /// Writes the manifest unless an earlier run of the same build wrote an equivalent one, which is kept.
    private func putManifest(_ manifest: ComposeManifest, in bucket: any ObjectStore) async throws -> ComposeManifest {
        let key = options.layout.manifest(manifest.build.id)
        if try await bucket.put(key, bytes: manifest.encoded(), condition: .absent) { return manifest }
        guard let existing = try await ComposeManifest.read(manifest.build.id, layout: options.layout, from: bucket) else {
            throw ReleaseError.missing(key: key, store: bucket.description)
        }
        guard existing.describesSameBuild(as: manifest) else {
            throw ReleaseError.conflict(key: key, store: bucket.description, problem: "it describes another image or index for build \(manifest.build.id)")
        }
        return existing
    }

    /// The dry run's files (also written when publishing): manifest, dedupe figures, checksums.
    private func writeArtifacts(_ manifest: ComposeManifest, indexPath: String) throws -> [String] {
        let imageName = FileSystem.lastComponent(of: options.image)
        let indexName = FileSystem.lastComponent(of: indexPath)
        let files: [(String, [UInt8])] = [
            ("compose-manifest.json", try manifest.encoded()),
            ("dedupe-stats.json", try ReleaseJSON.encode(manifest.dedupe)),
            ("\(imageName).sha256", Array("\(manifest.image.sha256)  \(imageName)\n".utf8)),
            ("\(imageName).digest", Array("\(manifest.image.casyncDigest)\n".utf8)),
            ("\(indexName).sha256", Array("\(manifest.index.sha256)  \(indexName)\n".utf8)),
        ]
        for (name, bytes) in files { try AtomicFile.write(bytes, to: options.out + "/" + name) }
        return [indexName] + files.map(\.0)
    }
}
