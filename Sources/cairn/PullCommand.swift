import ArgumentParser
import CairnBlob
import CairnRelease
import CairnStores

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull a published build onto this machine, downloading only the chunks it lacks.",
        discussion: """
            Follows refs/<ref>/latest.json (or --build) to the build's manifest and index, checks \
            the index against the manifest, rebuilds the image from the chunks, reusing those of \
            the images given with --seed, and checks the result against the manifest's SHA-256 \
            before it replaces OUT (a block device, or --in-place, is written in place).
            """
    )

    @Option(help: "The public base URL, an s3+https://HOST/BUCKET[/PREFIX] bucket or a local directory.")
    var from: String

    @OptionGroup var prefix: PrefixOption

    @Option(help: "The ref to pull (made safe for a key as publish does).")
    var ref: String?

    @Option(help: "A build id (<run>-<attempt>-<sha>) to pull instead of the ref's current one, e.g. to roll back.")
    var build: String?

    @Option(help: "An image already on this machine whose chunks are reused; repeatable.")
    var seed: [String] = []

    @Option(help: "A local store asked first and filled with every chunk downloaded (after it verified).")
    var cache: String?

    @Flag(help: "Write into an existing OUT, skipping chunks it already holds.")
    var inPlace = false

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @OptionGroup var jobs: JobsOption

    @Argument(help: "The file or block device to write.")
    var output: String

    func validate() throws {
        guard ref != nil || build != nil else { throw ValidationError("give --ref or --build") }
    }

    func run() async throws {
        var options = PullOptions(
            source: try openObjectSource(from, requests: jobs.requests), layout: prefix.layout,
            ref: try ref.map(BuildIdentity.safeRef), build: try build.map(BuildIdentity.validateID))
        options.seeds = seed
        options.inPlace = inPlace
        options.cache = cache
        options.jobs = jobs.workers
        let report = try await Puller(options: options).run(output: output)
        if json {
            try printJSON(report)
        } else {
            let extract = report.extract
            print("""
                pulled build \(report.build) into \(output) (SHA-256 \(report.imageSHA256) checked)
                downloaded \(ByteCount.format(extract.bytesFromStore)) in \(extract.fromStore) chunks; \
                reused \(ByteCount.format(extract.bytesFromSeed)) from seeds, \(extract.alreadyInPlace) chunks already in place, \(extract.zeroChunks) zero chunks
                """)
        }
    }
}

/// Opens a place builds are read from: an `http(s)://` public base URL, an `s3+` bucket
/// (unsigned requests when no credentials are set, for public buckets) or a local directory.
func openObjectSource(_ location: String, requests: Int?) throws -> any ObjectSource {
    if location.hasPrefix("http://") || location.hasPrefix("https://") {
        return HTTPObjectSource(base: location, transport: try makeTransport(followsRedirects: true), concurrentRequests: requests ?? 16)
    }
    return try openObjectStore(location, requests: requests)
}

/// Opens a bucket to write to: an `s3+http(s)://HOST/BUCKET[/PREFIX]` location or a local directory.
func openObjectStore(_ location: String, requests: Int?) throws -> any ObjectStore {
    if location.hasPrefix("s3+") {
        return S3ObjectStore(client: try makeS3Client(location), concurrentRequests: requests ?? 16)
    }
    guard !location.contains("://") else {
        throw ValidationError("\(location): give an s3+http(s):// bucket or a local directory (an http(s):// base URL is read-only)")
    }
    return LocalObjectStore(root: location)
}
