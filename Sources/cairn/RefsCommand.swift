import ArgumentParser
import CairnRelease
import CairnStores

struct RefsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refs",
        abstract: "Show a ref's lineage or move it to a known-good build.",
        subcommands: [Log.self, Set.self]
    )

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The builds a ref has named, newest first.")

        @OptionGroup var location: BucketOptions
        @Flag(help: "Print the ref pointer as JSON.") var json = false
        @Argument(help: "The ref.") var ref: String

        func run() async throws {
            let ref = try BuildIdentity.safeRef(self.ref)
            let source = try openObjectSource(location.bucket, requests: nil)
            guard let (pointer, _) = try await Refs.read(ref, layout: location.layout, from: source) else {
                throw ReleaseError.missing(key: location.layout.latest(ref), store: source.description)
            }
            if json { return try printJSON(pointer) }
            for entry in pointer.history {
                print("\(entry.build)  \(entry.updated)  \(entry.action)\(entry.actor.map { " by \($0)" } ?? "")")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a ref to a build after checking that every part of it is in the bucket.",
            discussion: "The move is a compare-and-swap: a publish racing with it is not lost, it lands in the lineage.")

        @OptionGroup var location: BucketOptions
        @Argument(help: "The ref.") var ref: String
        @Argument(help: "The build id (<run>-<attempt>-<sha>).") var build: String
        @OptionGroup var rules: ChannelRulesOption

        func run() async throws {
            let ref = try BuildIdentity.safeRef(self.ref)
            try rules.load()?.checkManualMove(of: ref)
            let build = try BuildIdentity.validateID(self.build)
            let layout = location.layout
            let bucket = try openObjectStore(location.bucket, requests: nil)
            let held = Swift.Set(try await bucket.chunkStore(prefix: layout.chunks).list().map(\.id))
            let check = try await BuildChecker.check(build, layout: layout, in: bucket, held: held)
            guard check.isComplete else {
                throw ReleaseError.integrity("build \(build) is not complete in \(bucket), so \(ref) stays where it is: " + check.problems.joined(separator: "; "))
            }
            let current = try await Refs.read(ref, layout: layout, from: bucket)
            let actor = ProcessEnvironment.value("GITHUB_ACTOR") ?? ProcessEnvironment.value("USER")
            let moved = try await Refs.move(ref, to: build, layout: layout, in: bucket, current: current, action: "set", actor: actor)
            print(moved ? "\(ref) now names \(build) (was \(current?.pointer.build ?? "nothing"))" : "\(ref) already names \(build)")
        }
    }
}
