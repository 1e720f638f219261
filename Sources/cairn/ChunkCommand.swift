import ArgumentParser
import CairnBlob
import CairnCasync

struct ChunkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Print the chunk boundaries and IDs of a file (start, size, ID per line); store nothing."
    )

    @OptionGroup var chunking: ChunkingOptions

    @Argument(help: "The file or block device to chunk.")
    var input: String

    func run() async throws {
        let index = try await MakeEngine(options: chunking.makeOptions, store: nil).chunks(of: input)
        var out = ""
        for chunk in index.chunks {
            out += "\(chunk.start) \(chunk.size) \(chunk.id.hex)\n"
        }
        print(out, terminator: "")
    }
}
