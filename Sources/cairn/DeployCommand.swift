import ArgumentParser
import CairnCasync
import CairnComposefs
import CairnDeploy
import CairnIO
import CairnOCI
import FoundationEssentials
import SystemPackage

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy an image: its boot variant, a writable /etc and an origin file under state/deploy/<id>/.",
        discussion: "IMAGE is a source (docker://…, oci:…, oci-archive:…), pulled as needed, or a tag or sha256: manifest digest already in the repository. The manifest is tagged localhost/cairn-<digest> (the deployment's GC root), the id is the boot image's fs-verity digest, and the new deployment becomes the staged one. --repair ID pulls a deployment's image again by the manifest digest its origin records.")

    @OptionGroup var location: SysrootOption
    @Argument(help: "The image to deploy.") var image: String?
    @Option(help: ArgumentHelp("Restore the repository links of deployment ID by pulling its image again.", valueName: "id")) var repair: String?
    @OptionGroup var sourceOptions: SourceOptions
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        guard (image == nil) != (repair == nil) else { throw ValidationError("give either an IMAGE or --repair ID") }
    }

    func run() async throws {
        var options = Deployer.Options()
        (options.verifyTLS, options.credentials) = (sourceOptions.tlsVerify, sourceOptions.creds)
        options.platform = try sourceOptions.parsedPlatform
        let deployer = Deployer(sysroot: location.sysroot, repository: try location.openRepository(), options: options)
        let result = if let repair { try await deployer.repair(repair) } else { try await deployer.deploy(image!) }
        if json { return try printJSON(result) }
        let note = repair != nil ? " (repaired)" : result.existed ? " (already deployed; staged)" : ""
        print("\(result.id)\t\(result.manifestDigest)\t\(result.imageReference)\(note)")
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List the deployments: image, manifest and config digests, version, booted and staged.",
        discussion: "Each deployment is read along its chain (origin, manifest digest, manifest and config from the repository with their SHA-256 recomputed), or from a legacy .imginfo. A broken link is named; the other deployments are still listed. Exit 1 if any deployment has a problem.")

    @OptionGroup var location: SysrootOption
    @Option(help: ArgumentHelp("The booted deployment (default: composefs= on /proc/cmdline).", valueName: "id")) var booted: String?
    @Flag(help: "Print the list as JSON.") var json = false

    func run() async throws {
        let sysroot = location.sysroot
        let deployments = try DeploymentStatus.all(in: sysroot, repository: try location.openRepository(), bootedID: booted ?? Self.bootedID())
        if json {
            try printJSON(deployments)
        } else {
            for deployment in deployments {
                let marks = [deployment.booted ? "booted" : nil, deployment.staged ? "staged" : nil].compactMap { $0 }
                print("\(deployment.id)\(marks.isEmpty ? "" : " (\(marks.joined(separator: ", ")))")")
                print("  image: \(deployment.imageReference ?? "-")")
                print("  manifest: \(deployment.manifestDigest?.description ?? "-")  config: \(deployment.configDigest?.description ?? "-")  (\(deployment.recordedIn))")
                if let version = deployment.version { print("  version: \(version)") }
                for problem in deployment.problems { print("  problem: \(problem)") }
            }
            for leftover in try sysroot.leftovers() { print("interrupted: \(sysroot.deployments)/\(leftover) (removed by the next deploy or repo gc)") }
        }
        if deployments.contains(where: { !$0.problems.isEmpty }) { throw ExitCode(1) }
    }

    static func bootedID() -> String? {
        guard let bytes = try? File.open("/proc/cmdline", .readOnly).readAll() else { return nil }
        return Sysroot.bootedID(commandLine: String(decoding: bytes, as: UTF8.self))
    }
}

struct UndeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undeploy",
        abstract: "Remove a deployment (not the booted one); `cairn repo gc` then frees what only it used.")

    @OptionGroup var location: SysrootOption
    @Argument(help: "The deployment's id.") var id: String
    @Option(help: ArgumentHelp("The booted deployment (default: composefs= on /proc/cmdline).", valueName: "id")) var booted: String?

    func run() async throws {
        try Deployer(sysroot: location.sysroot, repository: try location.openRepository()).undeploy(id, bootedID: booted ?? StatusCommand.bootedID())
    }
}

struct MountDeploymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount-deployment",
        abstract: "Mount a deployment's tree at DIR (root): its composefs boot image, with its own /etc writable on top.",
        discussion: "`umount DIR/etc DIR` undoes it.")

    @OptionGroup var location: SysrootOption
    @Argument(help: "The deployment's id.") var id: String
    @Argument(help: "An existing directory to mount on.") var directory: String

    func run() async throws {
        let sysroot = location.sysroot
        let repository = try location.openRepository()
        guard Sysroot.isDeploymentID(id), FileSystem.exists(sysroot.directory(of: id)) else { throw CommandFailure("no deployment \(id) in \(sysroot.deployments)") }
        try repository.mountImage(id, at: directory)
        do {
            try FileSystem.bindMount(sysroot.directory(of: id) + "/etc", at: directory + "/etc")
        } catch {
            try? FileSystem.unmount(directory)
            throw error
        }
    }
}
