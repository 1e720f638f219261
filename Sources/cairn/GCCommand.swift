import ArgumentParser

struct GCCommand: AsyncParsableCommand {
    func run() async throws {}
}
