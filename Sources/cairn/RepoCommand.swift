import ArgumentParser
import CairnComposefs
import CairnDeploy
import CairnOCI
import FoundationEssentials

struct RepoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo",
        abstract: "Create, check and garbage-collect a composefs repository (composefs-rs's format).",
        subcommands: [Init.self, GC.self, Fsck.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a repository: meta.json, objects/, streams/, images/.",
            discussion: "Running it again with the same settings is fine; other settings are an error. Without --insecure, meta.json gets fs-verity, so the file system must support it.")

        @OptionGroup var repository: RepositoryOption
        @Option(help: "The fs-verity hash that names objects: sha512 (as bootc) or sha256.") var hash = "sha512"
        @Option(help: "The EROFS format of the images pulls make: 1 (mkcomposefs-compatible) or 0.") var erofsFormat: UInt32 = 1
        @Flag(help: "For file systems without fs-verity: objects are named by digests computed in user space.") var insecure = false

        func validate() throws {
            guard ["sha256", "sha512"].contains(hash) else { throw ValidationError("--hash must be sha256 or sha512") }
            guard erofsFormat <= 1 else { throw ValidationError("--erofs-format must be 0 or 1 (cairn does not write format 2)") }
        }

        func run() async throws {
            let metadata = RepositoryMetadata(algorithm: hash == "sha256" ? .sha256 : .sha512, defaultFormat: erofsFormat)
            let repository = try Repository.create(at: repository.path, metadata: metadata, insecure: insecure)
            print("\(repository.path): fsverity-\(repository.algorithm)-12, EROFS format \(metadata.defaultFormat)\(repository.isInsecure ? ", insecure" : "")")
        }
    }

    struct GC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Delete the objects no tag, ref or deployment reaches, and the links left dangling.",
            discussion: "Roots are streams/refs/** (OCI tags among them), images/refs/**, the names given with --root, and the deployments of the sysroot: each keeps its localhost/cairn-<manifest digest> tag (made again if missing) and its boot image; localhost/cairn-* tags no deployment uses are removed, other tags are left alone, and an origin that cannot be read stops the collection. A tag keeps its manifest, config, layers and EROFS images. Waits for every writer to finish (it locks the repository exclusively).")

        @OptionGroup var repository: RepositoryOption
        @Flag(help: "Report what would be deleted; delete nothing.") var dryRun = false
        @Option(name: .customLong("root"), help: "Also keep this top-level name of streams/ or images/ (repeatable).") var roots: [String] = []
        @Option(help: ArgumentHelp("Keep the deployments of this sysroot (default: $CAIRN_SYSROOT, else the repository's parent when the repository is its composefs/ and it has state/deploy/).", valueName: "dir"))
        var sysroot: String?
        @Flag(help: "Print the report as JSON.") var json = false

        struct Report: Encodable {
            var garbage: Repository.GarbageReport
            var deployments: DeploymentRoots.Prepared?

            func encode(to encoder: any Encoder) throws {
                try garbage.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encodeIfPresent(deployments, forKey: .deployments)
            }

            enum Key: String, CodingKey { case deployments }
        }

        func run() async throws {
            let repository = try repository.open(dryRun ? .shared : .exclusive)
            var report = Report(garbage: Repository.GarbageReport())
            var roots = self.roots
            let explicit = sysroot ?? ProcessInfo.processInfo.environment["CAIRN_SYSROOT"].flatMap { $0.isEmpty ? nil : $0 }
            if let sysroot = try Sysroot.holding(repository: repository.path, explicit: explicit) {
                let prepared = try DeploymentRoots.prepare(sysroot, repository: repository, dryRun: dryRun)
                roots += prepared.roots
                report.deployments = prepared
            }
            report.garbage = try repository.collectGarbage(extraRoots: roots, dryRun: dryRun)
            if json { return try printJSON(report) }
            let verb = dryRun ? "would delete" : "deleted"
            if let deployments = report.deployments {
                let list = { (tags: [String]) in tags.isEmpty ? "none" : tags.joined(separator: ", ") }
                print("\(deployments.roots.count) deployments kept; tags \(dryRun ? "to remove" : "removed"): \(list(deployments.tagsRemoved)); \(dryRun ? "to add" : "added"): \(list(deployments.tagsAdded))")
            }
            print("\(verb) \(report.garbage.objects) objects (\(ByteCount.format(report.garbage.bytes))) and \(report.garbage.links) dangling links; \(report.garbage.live) objects live")
        }
    }

    struct Fsck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that every object a tag or ref reaches is present and matches its digest.",
            discussion: "Also checks that every stream decodes, every image a ref names parses, every streams/ and images/ link points at an object, and every OCI layer stream reassembles into the tar its diff_id names. Exit 1 if anything is wrong.")

        @OptionGroup var repository: RepositoryOption
        @Option(name: .customLong("root"), help: "Also check from this top-level name of streams/ or images/ (repeatable).") var roots: [String] = []
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let repository = try repository.open()
            var report = try repository.check(extraRoots: roots)
            report.problems += try ImageStore(repository).checkLayers()
            if json {
                try printJSON(report)
            } else {
                for problem in report.problems { print(problem) }
                print("\(report.problems.isEmpty ? "ok" : "\(report.problems.count) problems"): \(report.objectsChecked) objects, \(report.streamsChecked) streams, \(report.imagesChecked) images checked")
            }
            if !report.problems.isEmpty { throw ExitCode(1) }
        }
    }
}
