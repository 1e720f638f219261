import ArgumentParser

struct DigestCommand: AsyncParsableCommand {
    func run() async throws {}
}
