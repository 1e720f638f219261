import ArgumentParser
import CairnBlob
import CairnCasync

struct MakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make",
        abstract: "Chunk a file or block device into a store and write its index; prints the blob digest.",
        discussion: "The index is byte-identical to what `casync make` writes for the same input and options."
    )

    @Option(help: "The chunk store (default: $CASYNC_STORE, else default.castr beside the index).")
    var store: String?

    @OptionGroup var chunking: ChunkingOptions

    @Option(help: "Chunk compression: zstd or none.")
    var compression: ChunkCompression = .zstd

    @Flag(help: "Write the index only; store no chunks.")
    var indexOnly = false

    @Flag(help: "Print the summary as JSON on stdout instead of the digest.")
    var json = false

    @OptionGroup var progress: ProgressOption

    @Argument(help: "The index to write (.caibx).")
    var index: String

    @Argument(help: "The file or block device to chunk.")
    var input: String

    func run() async throws {
        var options = chunking.makeOptions
        options.compression = compression
        let store = indexOnly ? nil : try openWritableStore(storeLocation(self.store, index: index), requests: chunking.jobs.requests)
        let counter = ProgressCounter()
        let display = ProgressDisplay(counter, mode: progress.progress, label: "make")
        let summary = try await MakeEngine(options: options, store: store, progress: counter).run(input: input, index: index)
        display.finish()
        if json {
            try printJSON(summary)
        } else {
            print(summary.blobDigest)
            ProcessEnvironment.writeError(
                "\(summary.chunks) chunks (\(summary.uniqueChunks) unique) of \(ByteCount.format(summary.blobSize)); "
                    + "\(summary.newChunks) new, \(ByteCount.format(summary.newChunkBytes)) stored as \(ByteCount.format(summary.storedBytes))\n")
        }
    }
}
