import ArgumentParser
import CairnBlob
import CairnCasync

struct ListChunksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list-chunks",
        abstract: "Print the ID of every chunk of an index, in order, one per line."
    )

    @Argument(help: "The index (.caibx).")
    var index: String

    func run() async throws {
        var out = ""
        for chunk in try IndexFile.read(index).chunks {
            out += chunk.id.hex
            out += "\n"
        }
        print(out, terminator: "")
    }
}
