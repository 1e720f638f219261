import ArgumentParser
import CairnIO
import CairnRelease
import SystemPackage

struct PromoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Move a channel to the build another channel names, only if every gate passes.",
        discussion: "The rules (cairn-channels.json) say which channel may be promoted from which, and which gates run: integrity, content (paths the image must and must not hold, read by random access from the chunk store), kernel-modules (each kernel's modules built for it: vermagic), soak. Any gate that fails or cannot read its data leaves the target where it was and exits 1. The move is a compare-and-swap; every promotion, refused or not, writes an immutable audit record under casync/audit/<channel>/.")

    @OptionGroup var location: BucketOptions
    @Option(help: "The channel the build comes from.") var from: String
    @Option(help: "The channel to move.") var to: String
    @Option(help: "A build the source channel names or named before (default: the one it names now).") var build: String?
    @OptionGroup var rules: ChannelRulesOption
    @Flag(help: "Run the gates and report; move nothing, record nothing.") var dryRun = false
    @Flag(help: "Make the integrity gate download and hash every chunk.") var deep = false
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        guard let channelRules = try rules.load(required: true) else { return }
        var options = Promoter.Options(from: try BuildIdentity.safeRef(from), to: try BuildIdentity.safeRef(to))
        options.build = try build.map(BuildIdentity.validateID)
        (options.dryRun, options.deep) = (dryRun, deep)
        options.actor = ProcessEnvironment.value("GITHUB_ACTOR") ?? ProcessEnvironment.value("USER")
        if let run = ProcessEnvironment.value("GITHUB_RUN_ID") { options.stamp = run + "-" + (ProcessEnvironment.value("GITHUB_RUN_ATTEMPT") ?? "1") }
        let bucket = try openObjectStore(location.bucket, requests: nil)
        let report = try await Promoter(bucket: bucket, layout: location.layout, rules: channelRules).promote(options)
        if json {
            try printJSON(report)
        } else {
            let record = report.record
            for gate in record.gates {
                print("\(gate.passed ? "pass" : "FAIL") \(gate.gate)")
                for detail in gate.details { print("     \(detail)") }
            }
            if report.chunksRead > 0 { print("image gates read \(report.chunksRead) of \(report.chunks) chunks") }
            print("\(record.to): \(record.outcome) \(record.build) (was \(record.previous ?? "nothing"))\(report.audit.map { "; audit record \($0)" } ?? "")")
        }
        guard report.passed else {
            let record = report.record
            let failed = record.gates.filter { !$0.passed }.map { "\($0.gate): \($0.details.first ?? "failed")" }
            throw CommandFailure("\(record.to) stays at \(record.previous ?? "nothing"): build \(record.build) failed \(failed.joined(separator: "; "))")
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read the promotion records of a bucket.",
        subcommands: [Log.self])

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a channel's promotions, oldest first.")

        @OptionGroup var location: BucketOptions
        @Argument(help: "The channel.") var channel: String
        @Flag(help: "Print the records as JSON.") var json = false

        func run() async throws {
            let bucket = try openObjectStore(location.bucket, requests: nil)
            let records = try await AuditRecord.log(try BuildIdentity.safeRef(channel), layout: location.layout, in: bucket)
            if json { return try printJSON(records) }
            for record in records {
                let failed = record.gates.filter { !$0.passed }.map(\.gate)
                print("\(record.time)\t\(record.outcome)\t\(record.build)\tfrom \(record.from)\t(was \(record.previous ?? "nothing"))\t\(record.actor ?? "-")\(failed.isEmpty ? "" : "\tfailed: " + failed.joined(separator: ", "))")
            }
        }
    }
}
