import CairnCasync
import CairnErofs
import CairnIO
import SystemPackage

extension Repository {
    /// What a garbage collection removed (or, in a dry run, would remove).
    public struct GarbageReport: Sendable, Codable {
        public var objects = 0
        public var bytes: UInt64 = 0
        /// `images/` and `streams/` symlinks left pointing at nothing.
        public var links = 0
        /// Objects reachable from the roots.
        public var live = 0

        public init() {}
    }

    /// What `fsck` found wrong, one sentence per problem, each naming the object or link.
    public struct CheckReport: Sendable, Codable {
        public var problems: [String] = []
        public var objectsChecked = 0
        public var streamsChecked = 0
        public var imagesChecked = 0
    }

    /// The walk of composefs-rs's GC (reference/composefs.md §3.7): roots are `images/refs/**`,
    /// `streams/refs/**` and the top-level names in `extraRoots`; a root image is parsed and
    /// every object it redirects to is live; a stream keeps its object, its object refs and its
    /// named refs, and a named ref that is itself a stream is walked too. What it cannot read goes
    /// to `damage`, refs to nothing to `dangling`; the walk goes on.
    struct Walk {
        var live = Set<[UInt8]>()
        var streams = 0
        var images = 0
        /// Damaged or unreadable streams and images: what a collection must not go past.
        var damage = [String]()
        /// Refs naming a stream or image that is not there (a crash between a stream's link
        /// and its ref can leave one): pruned by a collection, reported by fsck.
        var dangling = [String]()
    }

    func walk(extraRoots: [String]) throws -> Walk {
        var result = Walk()
        var imageRoots = try Self.links(under: path + "/images/refs").map { FileSystem.lastComponent(of: $0.target) }
        imageRoots += extraRoots.filter { FileSystem.readLink(path + "/images/" + $0) != nil }
        for name in Set(imageRoots).sorted() {
            guard let target = FileSystem.readLink(path + "/images/" + name) else {
                result.dangling.append("image \(path)/images/\(name) is named by a ref but does not exist")
                continue
            }
            guard let digest = digest(fromObjectPath: target) else {
                result.damage.append("image \(path)/images/\(name) points at \(target), which is no object")
                continue
            }
            result.live.insert(digest)
            result.images += 1
            do {
                let image = try ErofsImage(try FileImage(path: objectPath(digest)))
                for payload in ComposefsImage.objects(of: try ComposefsImage.read(image)) {
                    guard let object = self.digest(fromObjectPath: String(decoding: payload, as: UTF8.self)) else {
                        result.damage.append("image \(name) redirects to \(String(decoding: payload, as: UTF8.self)), which is no object name")
                        continue
                    }
                    result.live.insert(object)
                }
            } catch {
                result.damage.append("image \(path)/images/\(name) cannot be read: \(error)")
            }
        }

        // Streams by object digest, so named refs (which hold digests) find the stream to walk.
        var streamNames = [[UInt8]: String]()
        for name in try FileSystem.contents(of: path + "/streams") where name != "refs" && !name.hasPrefix(".#") {
            if let digest = try? streamDigest(named: name) { streamNames[digest] = name }
        }
        var pending = try Self.links(under: path + "/streams/refs").map { FileSystem.lastComponent(of: $0.target) }
        pending += extraRoots.filter { FileSystem.readLink(path + "/streams/" + $0) != nil }
        var visited = Set<String>()
        while let name = pending.popLast() {
            guard visited.insert(name).inserted else { continue }
            let digest: [UInt8]?
            do { digest = try streamDigest(named: name) } catch {
                result.damage.append("\(error)")
                continue
            }
            guard let digest else {
                result.dangling.append("stream \(path)/streams/\(name) is named by a ref but does not exist")
                continue
            }
            result.live.insert(digest)
            let stream: SplitStream
            do { stream = try readStream(digest) } catch {
                result.damage.append("stream \(name): \(error)")
                continue
            }
            result.streams += 1
            result.live.formUnion(stream.objectRefs)
            for (_, index) in stream.namedRefs {
                let target = stream.streamRefs[index]
                result.live.insert(target)
                if let next = streamNames[target] { pending.append(next) }
            }
        }
        return result
    }

    /// Deletes every object no root reaches, then the `images/` and `streams/` symlinks left
    /// dangling. Needs the exclusive lock (`open(at:access: .exclusive)`) unless `dryRun`, which
    /// deletes nothing and reports what would go. A walk that meets a missing or damaged stream
    /// or image stops the collection: deleting on an incomplete walk could free what is still needed.
    public func collectGarbage(extraRoots: [String] = [], dryRun: Bool = false) throws -> GarbageReport {
        guard dryRun || access == .exclusive else { throw RepositoryError("garbage collection of \(path) needs the repository locked exclusively") }
        try requireWritable()
        let walked = try walk(extraRoots: extraRoots)
        guard walked.damage.isEmpty else {
            throw RepositoryError("garbage collection of \(path) stopped before deleting anything: " + walked.damage.joined(separator: "; "))
        }
        let live = walked.live
        var report = GarbageReport()
        report.live = live.count
        for fanOut in try FileSystem.contents(of: path + "/objects").sorted() {
            let directory = path + "/objects/" + fanOut
            guard try FileSystem.status(directory)?.isDirectory == true else {
                // A new object's temporary file, left by an interrupted write.
                if fanOut.hasPrefix(".#") {
                    report.objects += 1
                    report.bytes += try FileSystem.status(directory)?.size ?? 0
                    if !dryRun { try FileSystem.remove(directory) }
                }
                continue
            }
            for name in try FileSystem.contents(of: directory) {
                let file = directory + "/" + name
                // Leftovers of an interrupted write are garbage too: no writer runs under the exclusive lock.
                if let digest = Hex.decode(fanOut + name), digest.count == algorithm.digestSize, live.contains(digest) { continue }
                report.objects += 1
                report.bytes += try FileSystem.status(file)?.size ?? 0
                if !dryRun { try FileSystem.remove(file) }
            }
        }
        for directory in ["images", "streams"] {
            // Temporary links a crash left behind (no writer runs under the exclusive lock).
            for (stale, _) in try Self.links(under: path + "/" + directory, temporary: true) {
                report.links += 1
                if !dryRun { try FileSystem.remove(path + "/" + directory + "/" + stale) }
            }
            // Top-level names first: a ref dangles when the name it points at does.
            let links = try Self.links(under: path + "/" + directory).sorted { !$0.path.contains("/") && $1.path.contains("/") }
            var dangling = Set<String>()
            for (link, target) in links {
                let base = path + "/" + directory + "/"
                let objectGone = link.contains("/") ? dangling.contains(FileSystem.lastComponent(of: target)) : digest(fromObjectPath: target).map { !live.contains($0) } ?? false
                guard try objectGone || FileSystem.status(base + link, followingLinks: true) == nil else { continue }
                dangling.insert(link)
                report.links += 1
                if !dryRun { try FileSystem.remove(base + link) }
            }
        }
        return report
    }

    /// Checks that every object the roots reach is present and carries the fs-verity digest it
    /// is named by, every stream decodes, every root image parses, and every `streams/` and
    /// `images/` link points at an object.
    public func check(extraRoots: [String] = []) throws -> CheckReport {
        let walked = try walk(extraRoots: extraRoots)
        let live = walked.live
        var report = CheckReport(problems: walked.damage + walked.dangling, streamsChecked: walked.streams, imagesChecked: walked.images)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        for digest in live.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let object = objectPath(digest)
            guard let file = try? File.open(object, .readOnly) else {
                report.problems.append("object \(object) is missing")
                continue
            }
            report.objectsChecked += 1
            let actual = try FsVerity.digest(of: file, size: try file.size(), algorithm: algorithm, buffer: buffer)
            if actual != digest { report.problems.append("object \(object) has the fs-verity digest \(Hex.encode(actual)), not the one it is named by") }
        }
        for directory in ["images", "streams"] {
            for (link, target) in try Self.links(under: path + "/" + directory) where !link.hasPrefix("refs/") {
                if try digest(fromObjectPath: target) == nil || FileSystem.status(path + "/" + directory + "/" + link, followingLinks: true) == nil {
                    report.problems.append("\(path)/\(directory)/\(link) points at \(target), which is no object here")
                }
            }
        }
        return report
    }
}
