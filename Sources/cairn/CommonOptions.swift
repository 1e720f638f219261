import ArgumentParser
import CairnBlob
import CairnCasync
import CairnStores

extension DigestAlgorithm: ExpressibleByArgument {}
extension ChunkCompression: ExpressibleByArgument {}


/// How progress is shown on stderr.
enum ProgressMode: String, ExpressibleByArgument {
    /// A redrawn line when stderr is a terminal, nothing otherwise.
    case auto
    /// One parsable line per second, for CI logs.
    case plain
    case none
}

struct ProgressOption: ParsableArguments {
    @Option(help: "Progress on stderr: auto (a live line on a terminal), plain (a line per second) or none.")
    var progress: ProgressMode = .auto
}

/// How an input is cut into chunks and how the chunks are named, as casync's flags.
struct ChunkingOptions: ParsableArguments {
    @Option(
        name: .customLong("chunk-size"), help: "AVG or MIN:AVG:MAX, with K/M/G suffixes (default 16K:64K:256K).",
        transform: { try ChunkSizes(parsing: $0) })
    var chunkSize: ChunkSizes = .default

    @Option(help: "Digest naming chunks: sha512-256 or sha256.")
    var digest: DigestAlgorithm = .sha512_256

    @OptionGroup var jobs: JobsOption

    var makeOptions: MakeOptions {
        var options = MakeOptions()
        options.sizes = chunkSize
        options.digest = digest
        options.jobs = jobs.workers
        return options
    }
}

struct JobsOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "Chunks processed at once, and requests in flight to a network store (default: one per core, at least 2, and 16 requests).")
    var jobs: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    var workers: Int { jobs ?? defaultJobs }
    /// Requests in flight to a network store, when the user chose.
    var requests: Int? { jobs }
}

/// The store casync would use for an index: `--store`, else `$CASYNC_STORE`, else
/// `default.castr` next to the index.
func storeLocation(_ given: String?, index: String) -> String {
    given ?? ProcessEnvironment.value("CASYNC_STORE") ?? IndexFile.defaultStore(for: index)
}

/// Where an index's chunks are read from: stores tried in order, and an optional local cache.
struct ChunkSourceOptions: ParsableArguments {
    @Option(help: "A chunk store: a directory, an http(s):// base URL or an s3+http(s):// bucket; repeat to try several in order (default: $CASYNC_STORE, else default.castr beside the index).")
    var store: [String] = []

    @Option(help: "A local store asked first and filled with every chunk fetched (after it verified).")
    var cache: String?

    func fetcher(for index: BlobIndex, at indexPath: String, requests: Int?) throws -> ChunkFetcher {
        let locations = store.isEmpty ? [storeLocation(nil, index: indexPath)] : store
        return ChunkFetcher(
            stores: try locations.map { try openReadableStore($0, requests: requests) }, cache: cache.map { LocalChunkStore(root: $0) }, digest: index.digest)
    }
}

/// Network settings from the environment: `CAIRN_HTTP_TIMEOUT`, seconds a request may take
/// (default 60), and `CAIRN_HTTP_ATTEMPTS`, tries per request before giving up (default 5).
func makeTransport(followsRedirects: Bool) throws -> HTTPTransport {
    func setting(_ name: String, default value: Int) throws -> Int {
        guard let text = ProcessEnvironment.value(name) else { return value }
        guard let number = Int(text), number >= 1 else { throw ValidationError("\(name)=\(text): expected a whole number of at least 1") }
        return number
    }
    var retry = RetryPolicy()
    retry.attempts = try setting("CAIRN_HTTP_ATTEMPTS", default: retry.attempts)
    return HTTPTransport(retry: retry, timeout: .seconds(try setting("CAIRN_HTTP_TIMEOUT", default: 60)), followsRedirects: followsRedirects)
}

/// A client for an `s3+http(s)://HOST[:PORT]/BUCKET/PREFIX` location, with credentials and
/// region from the environment, that never follows redirects.
func makeS3Client(_ location: String) throws -> S3Client {
    S3Client(
        location: try S3Location(parsing: location), credentials: S3Credentials.fromEnvironment(),
        region: S3Credentials.regionFromEnvironment(), transport: try makeTransport(followsRedirects: false))
}

/// Opens a store to read chunks from: a local directory, an `http(s)://` base URL (redirects
/// are followed) or an S3 bucket. `requests` bounds the requests in flight to a network store.
func openReadableStore(_ location: String, requests: Int? = nil) throws -> any ChunkStore {
    if location.hasPrefix("http://") || location.hasPrefix("https://") {
        return HTTPChunkStore(base: location, transport: try makeTransport(followsRedirects: true), concurrentRequests: requests ?? 16)
    }
    return try openWritableStore(location, requests: requests)
}

/// Opens a store chunks can be written to and removed from: a local directory or an
/// `s3+http(s)://HOST[:PORT]/BUCKET/PREFIX` bucket (credentials and region from the environment).
func openWritableStore(_ location: String, requests: Int? = nil) throws -> any WritableChunkStore {
    if location.hasPrefix("s3+") {
        return S3ChunkStore(client: try makeS3Client(location), concurrentRequests: requests ?? 16)
    }
    if location.hasPrefix("http://") || location.hasPrefix("https://") {
        throw ValidationError("store \(location) is an HTTP base URL, which is read-only")
    }
    if location.contains("://") {
        throw ValidationError("store \(location): unsupported kind of store; give a directory, an http(s):// base URL or an s3+http(s):// bucket")
    }
    return LocalChunkStore(root: location)
}
