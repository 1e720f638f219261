import CairnBlob
import CairnCasync
import CairnIO
import CairnStores

/// What `pull` fetches and where it writes it.
public struct PullOptions: Sendable {
    /// The bucket or the public base URL in front of it.
    public var source: any ObjectSource
    public var layout: BucketLayout
    /// The ref whose build to pull (unless `build` names one).
    public var ref: String?
    /// A build to pull instead of the ref's current one (a rollback).
    public var build: String?
    /// Images already on the device (the running version): their chunks are not downloaded.
    public var seeds: [String] = []
    public var inPlace = false
    /// A local chunk store asked first and filled with what is downloaded.
    public var cache: String?
    public var jobs = defaultJobs

    public init(source: any ObjectSource, layout: BucketLayout, ref: String?, build: String?) {
        (self.source, self.layout, self.ref, self.build) = (source, layout, ref, build)
    }
}

/// What a pull did.
public struct PullReport: Sendable, Codable {
    public var build: String
    public var manifestKey: String
    public var imageSHA256: String
    public var extract: ExtractSummary
}

/// The consumer side of seed 000: ref → manifest → index (checked against the manifest) →
/// chunks, seeded from the images already on the device; the result is checked against the
/// manifest's SHA-256 before it is renamed into place.
public struct Puller: Sendable {
    public let options: PullOptions

    public init(options: PullOptions) { self.options = options }

    public func run(output outputPath: String) async throws -> PullReport {
        let source = options.source
        let layout = options.layout
        let build: String
        if let chosen = options.build {
            build = chosen
        } else if let ref = options.ref {
            build = try await Refs.current(ref, layout: layout, from: source).build
        } else {
            throw ReleaseError.invalidInput("pull needs a ref or a build")
        }

        let manifestKey = layout.manifest(build)
        guard let manifest = try await ComposeManifest.read(build, layout: layout, from: source) else {
            throw ReleaseError.missing(key: manifestKey, store: source.description)
        }
        let index = try await manifest.index(from: source)
        guard let imageSHA256 = ChunkID(hex: manifest.image.sha256) else {
            throw ReleaseError.malformed(key: manifestKey, problem: "image.sha256 is not 64 hex digits")
        }

        let existing = try FileSystem.status(outputPath, followingLinks: true)
        let keepsIndex = existing.map { $0.isRegular } ?? true
        var seeds = [Seed]()
        for path in options.seeds {
            seeds.append(try await seed(path, like: index))
        }
        // The image an earlier pull left here is the best seed there is (and costs no chunking).
        if keepsIndex, !options.inPlace, !options.seeds.contains(outputPath), let kept = Self.keptIndex(of: outputPath, like: index) {
            seeds.append(Seed(index: kept, blobPath: outputPath))
        }
        // Written in place, OUT stops matching the index an earlier pull kept beside it.
        if keepsIndex, options.inPlace { try FileSystem.remove(Self.keptIndexPath(of: outputPath)) }

        let fetcher = ChunkFetcher(
            stores: [source.chunkSource(prefix: layout.chunks)], cache: options.cache.map { LocalChunkStore(root: $0) }, digest: index.digest)
        var extract = ExtractOptions(fetcher: fetcher)
        extract.seeds = seeds
        extract.inPlace = options.inPlace
        extract.jobs = options.jobs
        extract.expectedSHA256 = imageSHA256
        // A device's next OS image must survive a power cut right after the pull.
        extract.durable = true
        let summary = try await ExtractEngine(options: extract).run(index: index, output: outputPath)
        if keepsIndex { try IndexFile.write(index, to: Self.keptIndexPath(of: outputPath), durable: true) }
        return PullReport(build: build, manifestKey: manifestKey, imageSHA256: manifest.image.sha256, extract: summary)
    }

    /// Where a pull keeps the index of the image it wrote to a regular file: `OUT.caibx`, so the
    /// next pull seeds from OUT without chunking it again (desync's seed indexes work the same way).
    public static func keptIndexPath(of image: String) -> String { image + ".caibx" }

    /// The index kept beside `image`, when it still fits: same size as the image, chunked with the
    /// same parameters and digest as `target`. Seed chunks are verified when used, so an index
    /// that no longer matches the image costs downloads, never a wrong byte.
    static func keptIndex(of image: String, like target: BlobIndex) -> BlobIndex? {
        guard let status = try? FileSystem.status(image, followingLinks: true), status.isRegular,
              let kept = try? IndexFile.read(keptIndexPath(of: image)),
              kept.blobSize == status.size, kept.sizes == target.sizes, kept.digest == target.digest
        else { return nil }
        return kept
    }

    /// A seed's chunks, from the index a pull kept beside it or else by chunking it like the
    /// target, so the chunks they share are found by ID.
    private func seed(_ path: String, like index: BlobIndex) async throws -> Seed {
        if let kept = Self.keptIndex(of: path, like: index) { return Seed(index: kept, blobPath: path) }
        let chunker = MakeEngine(options: MakeOptions(chunkingLike: index, jobs: options.jobs), store: nil)
        return Seed(index: try await chunker.chunks(of: path), blobPath: path)
    }
}
