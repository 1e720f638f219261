import ArgumentParser

struct VerifyCommand: AsyncParsableCommand {
    func run() async throws {}
}
