import ArgumentParser

struct ChunkCommand: AsyncParsableCommand {
    func run() async throws {}
}
