import ArgumentParser
import CairnBlob
import CairnCasync

struct ChunkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Print the chunk boundaries and IDs of a file (start, size, ID per line); store nothing."
    )

    @Option(name: .customLong("chunk-size"), help: "AVG or MIN:AVG:MAX (default 16K:64K:256K).")
    var chunkSize: ChunkSizes = .default

    @Option(help: "Digest naming chunks: sha512-256 or sha256.")
    var digest: DigestAlgorithm = .sha512_256

    @OptionGroup var jobs: JobsOption

    @Argument(help: "The file or block device to chunk.")
    var input: String

    func run() async throws {
        var options = MakeOptions()
        options.sizes = chunkSize
        options.digest = digest
        options.jobs = jobs.jobs
        let index = try await MakeEngine(options: options, store: nil).chunks(of: input)
        var out = ""
        for chunk in index.chunks {
            out += "\(chunk.start) \(chunk.size) \(chunk.id.hex)\n"
        }
        print(out, terminator: "")
    }
}
