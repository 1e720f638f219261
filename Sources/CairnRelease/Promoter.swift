import CairnBlob
import CairnCasync
import CairnErofs
import CairnStores

/// `cairn promote`: moves a channel to the build another channel names, only when every gate
/// the rules give the target passes on that build. Any failure, error or missing data leaves the
/// target where it was (fail closed). The move is a compare-and-swap; each promotion, refused or
/// not, leaves an immutable audit record.
public struct Promoter: Sendable {
    public struct Options: Sendable {
        public var from: String
        public var to: String
        /// A build the source channel names now or named before; default: the one it names now.
        public var build: String?
        public var dryRun = false
        /// Overrides the integrity gate's `deep`.
        public var deep = false
        public var actor: String?
        /// Names the audit record (the CI run, e.g. `<run>-<attempt>`); default: the time.
        public var stamp: String?
        public init(from: String, to: String) { (self.from, self.to) = (from, to) }
    }

    /// The promotion (what its audit record says), where the record went, and how much of the
    /// image the image gates read.
    public struct Report: Encodable, Sendable {
        public var record: AuditRecord
        public var audit: String?
        /// Chunks the image gates fetched, of the build's unique chunks.
        public var chunksRead = 0
        public var chunks = 0
        public var passed: Bool { record.gates.allSatisfy(\.passed) }

        public func encode(to encoder: any Encoder) throws {
            try record.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encodeIfPresent(audit, forKey: .audit)
            try container.encode(chunksRead, forKey: .chunksRead)
            try container.encode(chunks, forKey: .chunks)
        }

        private enum Key: String, CodingKey { case audit, chunksRead, chunks }
    }

    let bucket: any ObjectStore
    let layout: BucketLayout
    let rules: ChannelRules

    public init(bucket: any ObjectStore, layout: BucketLayout, rules: ChannelRules) { (self.bucket, self.layout, self.rules) = (bucket, layout, rules) }

    public func promote(_ options: Options) async throws -> Report {
        let channel = try rules.promotion(from: options.from, to: options.to)
        let source = try await Refs.current(options.from, layout: layout, from: bucket)
        let build = options.build ?? source.build
        guard source.build == build || source.history.contains(where: { $0.build == build }) else {
            throw ReleaseError.invalidInput("\(options.from) has never named build \(build); only its builds can be promoted to \(options.to)")
        }
        let target = try await Refs.read(options.to, layout: layout, from: bucket)
        let now = UTCTime.now()

        // Every gate runs (a report names all that fail), in the rules' order.
        var gates = [GateResult]()
        var imageGates = [ChannelRules.GateRule]()
        var check: BuildCheck?
        for rule in channel.gates {
            switch rule {
            case .integrity(let deep):
                let result = await integrity(build, deep: deep || options.deep)
                check = result.check
                gates.append(result.gate)
            case .soak(let seconds):
                gates.append(Self.soak(build, in: source, minimum: seconds, now: now))
            case .content, .kernelModules:
                imageGates.append(rule)
            }
        }
        var chunksRead = 0, chunks = 0
        if !imageGates.isEmpty {
            let (results, read, total) = await evaluate(imageGates, on: build, check: check)
            gates += results
            (chunksRead, chunks) = (read, total)
        }

        var report = Report(record: AuditRecord(
            build: build, from: options.from, to: options.to, previous: target?.pointer.build, outcome: "refused",
            gates: gates, actor: options.actor, time: UTCTime.iso8601(epochSeconds: now)))
        (report.chunksRead, report.chunks) = (chunksRead, chunks)
        let key = AuditRecord.key(layout: layout, channel: options.to, stamp: options.stamp ?? Self.stamp(now), build: build)
        if report.passed {
            if target?.pointer.build == build {
                report.record.outcome = "unchanged"
            } else if !options.dryRun {
                // The intent is recorded before the move: a crash between the two leaves a record
                // that the promotion began (`audit log` shows it as interrupted), never a move
                // that no record mentions.
                var intent = report.record
                intent.outcome = AuditRecord.intentOutcome
                try await write(intent, to: AuditRecord.intentKey(key), after: nil)
                let moved = try await Refs.move(options.to, to: build, layout: layout, in: bucket, current: target, action: "promote", actor: options.actor)
                report.record.outcome = moved ? "promoted" : "unchanged"
            } else {
                report.record.outcome = "would promote"
            }
        }
        guard !options.dryRun else { return report }
        try await write(report.record, to: key, after: report.record.outcome == "promoted" ? "\(options.to) now names \(build), but " : "")
        report.audit = key
        return report
    }

    /// Writes an audit record once; `after` prefixes the error when the ref moved already.
    private func write(_ record: AuditRecord, to key: String, after moved: String?) async throws {
        let moved = moved ?? ""
        do {
            guard try await bucket.put(key, bytes: try record.encoded(), condition: .absent) else {
                throw ReleaseError.conflict(key: key, store: bucket.description, problem: "\(moved)an audit record of that name exists already; records are never replaced")
            }
        } catch let error as ReleaseError {
            throw error
        } catch {
            throw ReleaseError.integrity("\(moved)its audit record \(key) could not be written: \(error)")
        }
    }

    /// `integrity`: every part of the build in the bucket; `deep`: the chunks rebuild the image.
    private func integrity(_ build: String, deep: Bool) async -> (gate: GateResult, check: BuildCheck?) {
        do {
            let walk = BucketWalk(bucket: bucket, layout: layout)
            var check = try await BuildChecker.check(build, layout: layout, in: bucket, held: try await walk.heldChunks())
            if deep { await BuildChecker.checkRebuild(&check, layout: layout, in: bucket, jobs: 4) }
            let details = check.isComplete ? ["\(check.chunks) chunks, index, manifest and image present\(deep ? "; the chunks rebuild the image" : "")"] : check.problems
            return (GateResult(gate: "integrity", passed: check.isComplete, details: details), check)
        } catch {
            return (GateResult.unreadable("integrity", error), nil)
        }
    }

    /// `soak`: the build's latest stint in the source channel (from when the channel last took
    /// it until now, or until the channel moved on) lasted at least `minimum` seconds.
    static func soak(_ build: String, in source: RefPointer, minimum: Int, now: Int) -> GateResult {
        // The lineage is newest first: the build's latest stint starts at its first entry and
        // ends at the entry before it (or now, if it is still current).
        guard let start = source.history.firstIndex(where: { $0.build == build }),
              let since = UTCTime.epochSeconds(parsing: source.history[start].updated),
              let until = start == 0 ? now : UTCTime.epochSeconds(parsing: source.history[start - 1].updated) else {
            return GateResult(gate: "soak", passed: false, details: ["\(source.ref)'s lineage does not say when it took \(build)"])
        }
        let stint = until - since
        return GateResult(gate: "soak", passed: stint >= minimum, details: ["in \(source.ref) for \(stint) s\(start == 0 ? "" : " before it moved on") (at least \(minimum) s needed)"])
    }

    /// The gates that read the image, from the chunk store by random access.
    private func evaluate(_ rules: [ChannelRules.GateRule], on build: String, check: BuildCheck?) async -> ([GateResult], Int, Int) {
        let index: BlobIndex
        do {
            if let known = check?.index {
                index = known
            } else {
                guard let manifest = try await ComposeManifest.read(build, layout: layout, from: bucket) else {
                    throw ReleaseError.missing(key: layout.manifest(build), store: bucket.description)
                }
                index = try await manifest.index(from: bucket)
            }
        } catch {
            return (rules.map { GateResult.unreadable($0.name, error) }, 0, 0)
        }
        let chunked = ChunkedImage(index: index, fetcher: ChunkFetcher(stores: [bucket.chunkStore(prefix: layout.chunks)], digest: index.digest))
        let results = (try? await ChunkedImage.run { () -> [GateResult] in
            let gates: ImageGates
            do { gates = ImageGates(try ErofsImage(chunked)) } catch {
                return rules.map { GateResult.unreadable($0.name, error) }
            }
            return rules.map { rule in
                do {
                    switch rule {
                    case .content(let required, let forbidden, let perKernelRequired, let perKernelForbidden):
                        return try gates.content(required: required, forbidden: forbidden, perKernelRequired: perKernelRequired, perKernelForbidden: perKernelForbidden)
                    case .kernelModules(let required):
                        return try gates.kernelModules(required: required)
                    case .integrity, .soak:
                        return GateResult(gate: rule.name, passed: false, details: ["does not read the image"])
                    }
                } catch {
                    return GateResult.unreadable(rule.name, error)
                }
            }
        }) ?? rules.map { GateResult(gate: $0.name, passed: false, details: ["could not be evaluated"]) }
        return (results, chunked.chunksFetched, Set(index.chunks.map(\.id)).count)
    }

    /// `20261123T051500Z`: names an audit record when no CI run does.
    static func stamp(_ seconds: Int) -> String {
        UTCTime.iso8601(epochSeconds: seconds).filter { $0 != "-" && $0 != ":" }
    }
}
