import ArgumentParser

struct InfoCommand: AsyncParsableCommand {
    func run() async throws {}
}
