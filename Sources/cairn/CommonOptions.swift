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
        options.jobs = jobs.jobs
        return options
    }
}

struct JobsOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "Chunks processed concurrently (default: one per core, at least 2).")
    var jobs: Int = defaultJobs

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }
}

/// The store casync would use for an index: `--store`, else `$CASYNC_STORE`, else
/// `default.castr` next to the index.
func storeLocation(_ given: String?, index: String) -> String {
    given ?? ProcessEnvironment.value("CASYNC_STORE") ?? IndexFile.defaultStore(for: index)
}

/// Opens a store to read chunks from: a local directory or an `http(s)://` base URL.
func openReadableStore(_ location: String) throws -> any ChunkStore {
    if location.hasPrefix("http://") || location.hasPrefix("https://") { return HTTPChunkStore(base: location) }
    return try openWritableStore(location)
}

/// Opens a store chunks can be written to and removed from: a local directory or an
/// `s3+http(s)://HOST[:PORT]/BUCKET/PREFIX` bucket (credentials and region from the environment).
func openWritableStore(_ location: String) throws -> any WritableChunkStore {
    if location.hasPrefix("s3+") {
        let client = S3Client(
            location: try S3Location(parsing: location), credentials: S3Credentials.fromEnvironment(),
            region: S3Credentials.regionFromEnvironment())
        return S3ChunkStore(client: client)
    }
    if location.hasPrefix("http://") || location.hasPrefix("https://") {
        throw ValidationError("store \(location) is an HTTP base URL, which is read-only")
    }
    if location.contains("://") {
        throw ValidationError("store \(location): unsupported kind of store; give a directory, an http(s):// base URL or an s3+http(s):// bucket")
    }
    return LocalChunkStore(root: location)
}
