import ArgumentParser
import CairnBlob
import CairnCasync
import FoundationEssentials

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove chunks that no given index references, and stale temporary files.",
        discussion: "Chunks and temporary files modified within the grace period are always kept, so a concurrent make is safe."
    )

    @Option(help: "The chunk store.")
    var store: String

    @Flag(name: [.customShort("n"), .long], help: "Report what would be removed; remove nothing.")
    var dryRun = false

    @Option(help: "Keep anything modified within this long, e.g. 0, 90s, 30m, 1h, 2d (default 1h).")
    var grace: String = "1h"

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @Argument(help: "The indexes whose chunks to keep.")
    var indexes: [String] = []

    func validate() throws {
        guard Self.seconds(grace) != nil else { throw ValidationError("--grace \(grace) is not a duration like 0, 90s, 30m, 1h or 2d") }
        guard !indexes.isEmpty else { throw ValidationError("give at least one index: gc removes every chunk the indexes do not reference") }
    }

    func run() async throws {
        let indexes = try self.indexes.map(IndexFile.read)
        let report = try await GarbageCollector(store: try openWritableStore(store), grace: Self.seconds(grace)!)
            .run(indexes: indexes, dryRun: dryRun, now: Date().timeIntervalSince1970)
        if json {
            try printJSON(report)
        } else {
            let verb = dryRun ? "would remove" : "removed"
            print("\(verb) \(report.removed) chunks (\(ByteCount.format(report.removedBytes))), kept \(report.kept) (\(report.tooYoung) unreferenced but younger than \(grace)), \(report.temporaryFilesRemoved) stale temporary files removed")
        }
    }

    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last, let factor = units[unit], let value = Double(text.dropLast()), value >= 0 { return value * factor }
        if let value = Double(text), value >= 0 { return value }
        return nil
    }
}
