import ArgumentParser

@main
struct Cairn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Chunk, store and restore OS images, byte-compatible with casync.",
        subcommands: [
            MakeCommand.self, ExtractCommand.self, DigestCommand.self, VerifyCommand.self,
            InfoCommand.self, ListChunksCommand.self, ChunkCommand.self, GCCommand.self,
        ]
    )
}
