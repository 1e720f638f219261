import ArgumentParser
import CairnBlob
import CairnCasync
import CairnStores

struct ExtractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Rebuild a blob from its index into a new file, an existing file or a block device.",
        discussion: """
            A new output appears only when complete. Chunks come from seeds first (verified), then \
            from the cache, then from the stores in the order given. All-zero chunks become holes.
            """
    )

    @OptionGroup var source: ChunkSourceOptions

    @Option(help: "INDEX[:BLOB]: an earlier version to copy shared chunks from (BLOB defaults to INDEX without its .caibx suffix).")
    var seed: [String] = []

    @Flag(help: "Write into an existing OUT, skipping chunks it already holds (block devices are always written in place).")
    var inPlace = false

    @Flag(help: "Print the summary as JSON on stdout.")
    var json = false

    @OptionGroup var jobs: JobsOption
    @OptionGroup var progress: ProgressOption

    @Argument(help: "The index (.caibx).")
    var index: String

    @Argument(help: "The file or block device to write.")
    var output: String

    func run() async throws {
        let blobIndex = try IndexFile.read(index)
        var options = ExtractOptions(fetcher: try source.fetcher(for: blobIndex, at: index, requests: jobs.requests))
        options.seeds = try seed.map(Self.openSeed)
        options.inPlace = inPlace
        options.jobs = jobs.workers
        let counter = ProgressCounter()
        let display = ProgressDisplay(counter, mode: progress.progress, label: "extract")
        let summary = try await ExtractEngine(options: options, progress: counter).run(index: blobIndex, output: output)
        display.finish()
        if json { try printJSON(summary) }
    }

    static func openSeed(_ argument: String) throws -> Seed {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        let indexPath = parts[0]
        let blobPath = parts.count > 1 ? parts[1] : (indexPath.hasSuffix(".caibx") ? String(indexPath.dropLast(6)) : indexPath)
        return Seed(index: try IndexFile.read(indexPath), blobPath: blobPath)
    }
}
