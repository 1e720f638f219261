import ArgumentParser

struct ExtractCommand: AsyncParsableCommand {
    func run() async throws {}
}
