import ArgumentParser

struct ListChunksCommand: AsyncParsableCommand {
    func run() async throws {}
}
