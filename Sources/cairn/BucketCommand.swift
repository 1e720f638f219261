import ArgumentParser
import CairnBlob
import CairnRelease
import CairnStores
import FoundationEssentials

struct BucketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bucket",
        abstract: "Check a bucket of published builds.",
        subcommands: [Verify.self, GC.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that every ref's build is complete: manifest, index, image and chunks.",
            discussion: "With --deep, every chunk is downloaded and verified, and the chunks must rebuild the image the manifest describes. Exit 1 if anything is wrong.")

        @OptionGroup var location: BucketOptions
        @Flag(help: "Download and hash every chunk, and check the rebuilt image's digest.") var deep = false
        @Flag(help: "Print the result as JSON.") var json = false
        @OptionGroup var jobs: JobsOption
        @Argument(help: "Refs to check (default: all).") var refs: [String] = []

        func run() async throws {
            let walk = BucketWalk(bucket: try openObjectStore(location.bucket, requests: jobs.requests), layout: location.layout)
            let refs = try self.refs.isEmpty ? await walk.refs() : self.refs.map(BuildIdentity.safeRef)
            let statuses = try await walk.verify(refs: refs, deep: deep, jobs: jobs.workers)
            if json {
                try printJSON(statuses)
            } else {
                for status in statuses {
                    let check = status.check
                    print("\(status.ref) → \(check.build): \(check.isComplete ? "complete, \(check.chunks) chunks\(deep ? " verified" : "")" : check.problems.joined(separator: "; "))")
                }
            }
            if !statuses.allSatisfy(\.check.isComplete) { throw ExitCode(1) }
        }
    }
}

extension BucketCommand {
    struct GC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove what no ref's last N builds reach: builds' manifests, indexes and images, and unreferenced chunks.",
            discussion: """
                A dry run unless --yes. Nothing modified within the grace period is removed, and every \
                index that young keeps its chunks, so a publish in flight is safe.
                """)

        @OptionGroup var location: BucketOptions
        @Option(help: "Builds to keep per ref: its current one and those before it in its history.") var keep = 3
        @Option(help: "Keep anything modified within this long: 0, 90s, 30m, 1h, 2d.") var grace = "1h"
        @Flag(help: "Remove for real (without it, only report).") var yes = false
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws {
            guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
            guard GCCommand.seconds(grace) != nil else { throw ValidationError("--grace \(grace) is not a duration like 0, 90s, 30m, 1h or 2d") }
        }

        func run() async throws {
            let walk = BucketWalk(bucket: try openObjectStore(location.bucket, requests: nil), layout: location.layout)
            let report = try await BucketGC(walk: walk, keep: keep, grace: GCCommand.seconds(grace)!).run(dryRun: !yes, now: Date().timeIntervalSince1970)
            if json { return try printJSON(report) }
            let verb = yes ? "removed" : "would remove"
            print("kept builds: \(report.keptBuilds.joined(separator: ", "))")
            print("\(verb) \(report.removedObjects.count) build objects (\(ByteCount.format(report.removedObjectBytes))) and \(report.chunks.removed) chunks (\(ByteCount.format(report.chunks.removedBytes))); "
                + "spared as younger than \(grace): \(report.youngObjects) build objects, \(report.chunks.tooYoung) chunks")
            if !yes { print("dry run: run again with --yes to remove") }
        }
    }
}

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Put back what the refs' builds lack in the bucket, from the local cache or the images.",
        discussion: "Missing chunks come from --cache (each verified first) or are cut again from an --image; a missing image is uploaded from an --image with its SHA-256. Exit 1 if something could not be repaired.")

    @OptionGroup var location: BucketOptions
    @Option(help: "A local chunk store to take chunks from.") var cache = ".casync-cache/store.castr"
    @Option(help: "An image to cut missing chunks from, or to upload when the bucket lacks it; repeatable.") var image: [String] = []
    @Flag(help: "Also download and verify every chunk, replacing damaged ones.") var deep = false
    @Flag(help: "Print the report as JSON.") var json = false
    @OptionGroup var jobs: JobsOption
    @Argument(help: "Refs to repair (default: all).") var refs: [String] = []

    func run() async throws {
        let walk = BucketWalk(bucket: try openObjectStore(location.bucket, requests: jobs.requests), layout: location.layout)
        let refs = try self.refs.isEmpty ? await walk.refs() : self.refs.map(BuildIdentity.safeRef)
        let report = try await Repairer(walk: walk, cache: cache, images: image, deep: deep, jobs: jobs.workers).run(refs: refs)
        if json {
            try printJSON(report)
        } else {
            print("builds: \(report.builds.joined(separator: ", "))")
            print("chunks put back: \(report.fromCache) from the cache, \(report.fromImages) cut from images (\(report.corruptRemoved) damaged ones removed first); images uploaded: \(report.imagesUploaded.count)")
            for problem in report.unrepaired { print("not repaired: \(problem)") }
        }
        if !report.unrepaired.isEmpty { throw ExitCode(1) }
    }
}
