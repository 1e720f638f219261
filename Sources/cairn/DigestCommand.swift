import ArgumentParser
import CairnBlob
import CairnCasync
import CairnStores

struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the digest of a file, or of the blob an index describes.",
        discussion: """
            As casync: for a file, the digest chosen with --digest; for a .caibx index, the \
            SHA-512/256 of the blob rebuilt from the store (every chunk verified).
            """
    )

    @OptionGroup var source: ChunkSourceOptions

    @Option(help: "Digest of a file: sha512-256 or sha256.")
    var digest: DigestAlgorithm = .sha512_256

    @OptionGroup var jobs: JobsOption
    @OptionGroup var progress: ProgressOption

    @Argument(help: "A file, block device or .caibx index.")
    var input: String

    func run() async throws {
        let counter = ProgressCounter()
        let display = ProgressDisplay(counter, mode: progress.progress, label: "digest")
        let result: ChunkID
        if input.hasSuffix(".caibx") {
            let index = try IndexFile.read(input)
            let fetcher = try source.fetcher(for: index, at: input, requests: jobs.requests)
            result = try await BlobDigest.ofIndex(index, fetcher: fetcher, jobs: jobs.workers, progress: counter)
        } else {
            result = try BlobDigest.ofFile(input, digest: digest, progress: counter)
        }
        display.finish()
        print(result.hex)
    }
}
