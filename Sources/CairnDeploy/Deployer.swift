import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO
import CairnOCI
import SystemPackage

/// `cairn deploy`, `deploy --repair` and `undeploy` (reference/composefs.md §6): a deployment is
/// an image's boot variant, named by its fs-verity digest, kept alive by the tag
/// `localhost/cairn-<manifest digest>`, with its own writable `/etc` and an origin file that
/// records the manifest digest, so the chain deployment → origin → manifest → config and
/// objects can be followed back through the repository.
public struct Deployer {
    public struct Options: Sendable {
        public var verifyTLS = true
        public var credentials: String?
        public var platform = ImageSpec.Platform.current
        public init() {}
    }

    public struct Result: Codable, Sendable {
        public var id: String
        public var manifestDigest: OCIDigest
        public var imageReference: String
        /// The deployment was there already (a deploy only marks it staged).
        public var existed: Bool
    }

    public static let tagPrefix = "localhost/cairn-"

    let sysroot: Sysroot
    let repository: Repository
    let options: Options

    public init(sysroot: Sysroot, repository: Repository, options: Options = Options()) {
        (self.sysroot, self.repository, self.options) = (sysroot, repository, options)
    }

    /// Deploys `reference`: an image source (`docker://…`, `oci:…`, `oci-archive:…`), pulled
    /// with its boot variant, or a tag or manifest digest already in the repository. The new
    /// deployment becomes the staged one.
    public func deploy(_ reference: String) async throws -> Result {
        let (manifestDigest, id) = try await bootImage(of: reference)
        return try sysroot.withLock {
            let result = try install(id: id, manifestDigest: manifestDigest, reference: reference)
            try AtomicFile.write(Array((id + "\n").utf8), to: sysroot.stagedRecord, durable: true)
            return result
        }
    }

    /// Pulls a deployment's image again (by the manifest digest its origin records) when a
    /// link of its chain is gone; the boot image it makes must be the deployment's own.
    public func repair(_ id: String) async throws -> Result {
        let origin = try sysroot.origin(of: id)
        guard let reference = origin.imageReference, let digestText = origin.manifestDigest, let digest = OCIDigest(digestText) else {
            throw DeployError("deployment \(id): its origin names no image reference and manifest digest to pull again")
        }
        guard ImageReference.isSource(reference) else { throw DeployError("deployment \(id) was made from '\(reference)', a name in the repository, not a source to pull again") }
        let (manifestDigest, made) = try await bootImage(of: Self.pinned(reference, to: digest))
        guard manifestDigest == digest else { throw DeployError("deployment \(id): \(reference) now has the manifest \(manifestDigest), not \(digest)") }
        guard made == id else { throw DeployError("deployment \(id): the image pulled again makes the boot image \(made)") }
        return try sysroot.withLock { try install(id: id, manifestDigest: digest, reference: reference) }
    }

    /// Removes a deployment (not the booted one); `cairn repo gc` then frees what only it used.
    public func undeploy(_ id: String, bootedID: String?) throws {
        let directory = sysroot.directory(of: id)
        guard Sysroot.isDeploymentID(id), FileSystem.exists(directory) else { throw DeployError("no deployment \(id) in \(sysroot.deployments)") }
        guard id != bootedID else { throw DeployError("deployment \(id) is the booted one") }
        try sysroot.withLock {
            let doomed = sysroot.deployments + "/" + Sysroot.removalPrefix + id
            try FileSystem.rename(directory, to: doomed)
            try FileSystem.synchronizeDirectory(containing: directory)
            if sysroot.stagedID() == id {
                try FileSystem.remove(sysroot.stagedRecord)
                try FileSystem.synchronizeDirectory(containing: sysroot.stagedRecord)
            }
            try FileSystem.removeTree(doomed)
        }
    }

    /// The manifest digest and boot image id of `reference`, pulling it if it is a source.
    private func bootImage(of reference: String) async throws -> (OCIDigest, String) {
        let store = ImageStore(repository)
        if ImageReference.isSource(reference) {
            var pullOptions = ImagePuller.Options()
            (pullOptions.bootable, pullOptions.platform) = (true, options.platform)
            let source = try ImageReference.source(reference, verifyTLS: options.verifyTLS, credentials: options.credentials)
            let pulled = try await ImagePuller(repository: repository, options: pullOptions).pull(source, tag: nil)
            guard let bootImage = pulled.bootImage else { throw DeployError("\(reference): the pull made no boot image") }
            try store.tag("@" + pulled.manifestDigest.description, as: Self.tagPrefix + pulled.manifestDigest.description)
            return (pulled.manifestDigest, bootImage)
        }
        // Resolved once: the tag may move meanwhile, the digest cannot.
        let manifest = try store.image(named: reference).manifestDigest
        let pinned = "@" + manifest.description
        try store.tag(pinned, as: Self.tagPrefix + manifest.description)
        return (manifest, try store.ensureBootImage(of: pinned))
    }


    /// Puts the deployment together under a staging name (its `/etc` from the boot image, `var`,
    /// the origin), makes it durable and names it; one already there is left as it is (its
    /// `/etc` may have changed since). Runs under the sysroot's lock, so any staging or removal
    /// directory it finds was abandoned.
    private func install(id: String, manifestDigest: OCIDigest, reference: String) throws -> Result {
        let result = Result(id: id, manifestDigest: manifestDigest, imageReference: reference, existed: FileSystem.exists(sysroot.directory(of: id)))
        if !result.existed {
            for leftover in try sysroot.leftovers() { try FileSystem.removeTree(sysroot.deployments + "/" + leftover) }
            let staging = sysroot.deployments + "/" + Sysroot.stagingPrefix + id
            try FileSystem.makeDirectories(staging, permissions: 0o755)
            try FileSystem.makeDirectories(sysroot.sharedVar, permissions: 0o755)
            let tree = try ComposefsImage.read(try ErofsImage(try FileImage(file: try repository.openImage(id))))
            guard let etc = tree.child(named: Array("etc".utf8)), etc.linkTarget == nil, etc.isDirectory else {
                throw DeployError("\(reference): the image's /etc is missing or not a directory")
            }
            var materializer = TreeMaterializer(objects: repository.path + "/objects", algorithm: repository.algorithm)
            try materializer.write(etc, to: staging + "/etc")
            try FileSystem.makeSymlink(at: staging + "/var", target: "../../os/default/var")
            var origin = OriginFile()
            origin["origin", OriginFile.containerKey] = OriginFile.unverifiedPrefix + reference
            if let digest = try Self.bootDigest(of: tree, objects: repository.path + "/objects") {
                origin["boot", "boot_type"] = "bls"
                origin["boot", "digest"] = digest
            }
            origin["image", "manifest_digest"] = manifestDigest.description
            try AtomicFile.write(Array(origin.text.utf8), to: staging + "/" + id + ".origin", durable: true)
            try FileSystem.synchronizeFileSystem(containing: staging)
            try FileSystem.rename(staging, to: sysroot.directory(of: id))
            try FileSystem.synchronizeDirectory(containing: sysroot.directory(of: id))
        }
        return result
    }

    /// bootc's BLS boot digest: SHA-256 of the first kernel's `vmlinuz` then its
    /// `initramfs.img` under `/usr/lib/modules/<release>/`; nil for an image without a kernel.
    static func bootDigest(of tree: FileNode, objects: String) throws -> String? {
        guard let modules = ["usr", "lib", "modules"].reduce(Optional(tree), { $0?.child(named: Array($1.utf8)) }) else { return nil }
        for release in modules.children where release.isDirectory {
            guard let kernel = release.child(named: Array("vmlinuz".utf8))?.resolved, kernel.fileType == .regular else { continue }
            let hasher = DigestAlgorithm.sha256.makeHasher()
            for file in [kernel, release.child(named: Array("initramfs.img".utf8))?.resolved].compactMap({ $0 }) {
                let bytes = try file.content ?? file.payload.map { try File.open(objects + "/" + String(decoding: $0, as: UTF8.self), .readOnly).readAll() } ?? []
                bytes.withUnsafeBytes { hasher.update($0) }
            }
            return hasher.finalize().description
        }
        return nil
    }

    /// A registry reference pinned to `digest` (`docker://host/name@sha256:…`); others as given.
    static func pinned(_ reference: String, to digest: OCIDigest) -> String {
        guard reference.hasPrefix("docker://") else { return reference }
        var name = Substring(reference.dropFirst("docker://".count))
        if let at = name.firstIndex(of: "@") {
            name = name[..<at]
        } else if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            name = name[..<colon]
        }
        return "docker://" + name + "@" + digest.description
    }
}
