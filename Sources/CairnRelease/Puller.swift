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

    public func run(output: String) async throws -> PullReport {
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

        // A seed is chunked like the image, so the chunks they share are found by ID.
        var seeds = [Seed]()
        for path in options.seeds {
            let chunker = MakeEngine(options: MakeOptions(chunkingLike: index, jobs: options.jobs), store: nil)
            seeds.append(Seed(index: try await chunker.chunks(of: path), blobPath: path))
        }

        let fetcher = ChunkFetcher(
            stores: [source.chunkSource(prefix: layout.chunks)], cache: options.cache.map { LocalChunkStore(root: $0) }, digest: index.digest)
        var extract = ExtractOptions(fetcher: fetcher)
        extract.seeds = seeds
        extract.inPlace = options.inPlace
        extract.jobs = options.jobs
        extract.expectedSHA256 = imageSHA256
        // A device's next OS image must survive a power cut right after the pull.
        extract.durable = true
        let summary = try await ExtractEngine(options: extract).run(index: index, output: output)
        return PullReport(build: build, manifestKey: manifestKey, imageSHA256: manifest.image.sha256, extract: summary)
    }
}
