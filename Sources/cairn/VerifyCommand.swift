import ArgumentParser
import CairnBlob
import CairnCasync

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that chunks decompress and hash to their IDs; report bad and missing ones.",
        discussion: "With indexes, checks the chunks they reference; without, every chunk in the store. Exits 1 if any chunk is bad or missing."
    )

    @Option(help: "The chunk store.")
    var store: String

    @Flag(help: "Remove bad chunks from the store.")
    var repair = false

    @Option(help: "Digest of chunk IDs when no index is given (default: try sha512-256, then sha256).")
    var digest: DigestAlgorithm?

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @OptionGroup var jobs: JobsOption
    @OptionGroup var progress: ProgressOption

    @Argument(help: "Indexes whose chunks to check.")
    var indexes: [String] = []

    func run() async throws {
        let indexes = try self.indexes.map(IndexFile.read)
        let counter = ProgressCounter()
        let display = ProgressDisplay(counter, mode: progress.progress, label: "verify", unit: .chunks)
        let report = try await VerifyEngine(store: try openWritableStore(store, requests: jobs.requests), jobs: jobs.workers, progress: counter)
            .run(indexes: indexes, digest: digest, repair: repair)
        display.finish()
        if json {
            try printJSON(report)
        } else {
            for bad in report.bad { print("bad chunk \(bad.id): \(bad.problem)\(repair ? " (removed)" : "")") }
            for id in report.missing { print("missing chunk \(id)") }
            print("\(report.checked) chunks checked, \(report.bad.count) bad, \(report.missing.count) missing\(repair ? ", \(report.removed) removed" : "")")
        }
        if !report.isClean { throw ExitCode.failure }
    }
}
