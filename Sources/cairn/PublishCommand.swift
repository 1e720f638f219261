import ArgumentParser
import CairnBlob
import CairnCasync
import CairnIO
import CairnRelease
import CairnStores

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a build of an EROFS image to a bucket, deduplicated (seed 000's producer flow).",
        discussion: """
            Chunks the image into the local cache, checks the index by extracting it, uploads the \
            chunks the bucket lacks, then the immutable index, manifest and image, extracts once \
            more from what was uploaded, and only then moves refs/<ref>/latest.json by \
            compare-and-swap. Without a bucket or credentials, or with COMPOSE_ENABLE_PUBLISH=0, \
            it is a dry run that still checks everything and writes the artifacts. Every flag has \
            an environment default from the seed (COMPOSE_*, R2_*, AWS_*, GITHUB_*).
            """
    )

    @Option(help: "The image (default: $COMPOSE_EROFS_IMAGE, else mkosi.output/<name>.ero, mkosi.output/image.ero, or the only mkosi.output/*.ero).")
    var image: String?

    @Option(help: "The image's name in mkosi.output (default: the last component of the prefix).")
    var name: String?

    @Option(name: .customLong("chunk-size"), help: "MIN:AVG:MAX (default: $COMPOSE_CHUNK_SIZE, else 262144:1048576:4194304).")
    var chunkSize: String?

    @Option(help: "CI run id (default: $GITHUB_RUN_ID, else local).") var run: String?
    @Option(help: "CI run attempt (default: $GITHUB_RUN_ATTEMPT, else 1).") var attempt: String?
    @Option(help: "Commit (default: $GITHUB_SHA, else the checkout's HEAD).") var sha: String?
    @Option(help: "The ref to publish to, made safe for a key (default: $GITHUB_REF_NAME, else the checked-out branch). With channel rules, a branch lands on br-<ref>, and a channel that is promoted into is refused.") var ref: String?
    @OptionGroup var rules: ChannelRulesOption

    @OptionGroup var prefix: PrefixOption

    @Option(help: "The bucket: s3+https://HOST/BUCKET[/PREFIX] or a local directory (default: from $COMPOSE_ENDPOINT_URL and $COMPOSE_BUCKET, else $R2_ENDPOINT_URL and $R2_BUCKET).")
    var bucket: String?

    @Option(help: "The public base URL in front of the bucket, for the last smoke extraction (default: $COMPOSE_PUBLIC_BASE_URL).")
    var publicBaseURL: String?

    @Option(help: "The local chunk cache.") var cache = ".casync-cache/store.castr"
    @Option(help: "Where the artifacts go.") var out = "mkosi.output/compose"

    @Option(help: "A build input to record, KEY=VALUE; repeatable.") var input: [String] = []
    @Option(help: "A file of build inputs: a JSON object of strings, or KEY=VALUE lines.") var inputs: String?
    @Option(help: "Replay a build: the inputs given must be exactly the lock's (`cairn inputs lock`), or nothing is published.") var lock: String?

    @Flag(help: "Check and write the artifacts, but upload nothing.") var dryRun = false
    @Flag(help: "Print the report as JSON on stdout.") var json = false
    @OptionGroup var jobs: JobsOption

    func run() async throws {
        let prefix = self.prefix.value
        let image = try self.image ?? env("COMPOSE_EROFS_IMAGE")
            ?? ImageLocator.find(in: "mkosi.output", name: name ?? FileSystem.lastComponent(of: prefix))
        let sizes = try ChunkSizes(parsing: chunkSize ?? env("COMPOSE_CHUNK_SIZE") ?? "262144:1048576:4194304")
        let build = try BuildIdentity(
            run: run ?? env("GITHUB_RUN_ID") ?? "local", attempt: attempt ?? env("GITHUB_RUN_ATTEMPT") ?? "1",
            sha: sha ?? env("GITHUB_SHA") ?? GitCheckout.head() ?? "unknown")
        var ref = try BuildIdentity.safeRef(ref ?? env("GITHUB_REF_NAME") ?? GitCheckout.branch() ?? "local")
        if let rules = try rules.load() { ref = try rules.publishRef(for: ref, explicit: self.ref != nil) }

        var options = PublishOptions(
            image: image, build: build, ref: ref, layout: self.prefix.layout, sizes: sizes, cache: cache, out: out,
            tool: "cairn \(Cairn.version)")
        options.inputs = try BuildInputs.parse(pairs: input, file: inputs)
        let locked = try lock.map(InputsCommand.lock)
        if let lock, let locked {
            let differences = InputsLock.differences(locked.inputs, options.inputs)
            guard differences.isEmpty else {
                throw CommandFailure("the inputs differ from the lock \(lock) (build \(locked.build)); nothing was published:\n" + differences.joined(separator: "\n"))
            }
        }
        options.actor = env("GITHUB_ACTOR") ?? env("USER")
        options.jobs = jobs.workers
        let (bucket, dryRunReason) = try openBucket()
        options.bucket = bucket
        if bucket != nil, let base = publicBaseURL ?? env("COMPOSE_PUBLIC_BASE_URL") {
            options.publicSource = try openObjectSource(base, requests: jobs.requests)
        }
        if let dryRunReason { ProcessEnvironment.writeError("dry run: \(dryRunReason)\n") }

        let report = try await Publisher(options: options) { ProcessEnvironment.writeError("publish: \($0)\n") }.run()
        try GitHubActions.record(report, dryRunReason: dryRunReason)
        if let locked {
            let same = report.manifest.image.sha256 == locked.image.sha256
            ProcessEnvironment.writeError("replay of build \(locked.build): the image is \(same ? "identical to" : "not") the one it made (sha256 \(report.manifest.image.sha256)\(same ? "" : ", was \(locked.image.sha256)"))\n")
        }
        if json {
            try printJSON(report)
        } else {
            let dedupe = report.manifest.dedupe
            print("""
                build \(report.manifest.build.id) of \(image) for ref \(ref): \(report.published ? "published" : "dry run, nothing uploaded")
                new: \(dedupe.newChunks) chunks, \(ByteCount.format(dedupe.newBytes)); reused: \(dedupe.reusedChunks) chunks, \(ByteCount.format(dedupe.reusedBytes)) (against \(dedupe.measuredAgainst))
                uploaded: \(report.uploadedChunks) chunks, \(ByteCount.format(report.uploadedBytes)); ref \(report.refMoved ? "moved" : report.refNote ?? "unchanged")
                artifacts in \(out)
                """)
        }
    }

    /// The bucket to publish to, or nil and why this is a dry run.
    private func openBucket() throws -> (bucket: (any ObjectStore)?, dryRunReason: String?) {
        if dryRun { return (nil, "--dry-run was given") }
        if env("COMPOSE_ENABLE_PUBLISH") == "0" { return (nil, "COMPOSE_ENABLE_PUBLISH=0") }
        let location: String
        if let bucket {
            location = bucket
        } else if let name = env("COMPOSE_BUCKET") ?? env("R2_BUCKET"), let endpoint = env("COMPOSE_ENDPOINT_URL") ?? env("R2_ENDPOINT_URL") {
            var endpoint = endpoint.contains("://") ? endpoint : "https://" + endpoint
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            location = "s3+\(endpoint)/\(name)"
        } else {
            return (nil, "no bucket: give --bucket, or set COMPOSE_BUCKET and COMPOSE_ENDPOINT_URL (or R2_BUCKET and R2_ENDPOINT_URL)")
        }
        if location.hasPrefix("s3+"), S3Credentials.fromEnvironment() == nil {
            // A bucket given on the command line means publishing was asked for: fail loudly.
            if bucket != nil {
                throw ValidationError("--bucket \(location) needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY), or add --dry-run")
            }
            return (nil, "no credentials for \(location): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY)")
        }
        return (try openObjectStore(location, requests: jobs.requests), nil)
    }
}

/// An environment variable, treating an empty value as unset (as CI templates leave them).
private func env(_ name: String) -> String? {
    ProcessEnvironment.value(name).flatMap { $0.isEmpty ? nil : $0 }
}
