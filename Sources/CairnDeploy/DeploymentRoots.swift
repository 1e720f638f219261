import CairnComposefs
import CairnIO
import CairnOCI

/// What a garbage collection must keep for the deployments of a sysroot (bootc's GC roots,
/// reference/composefs.md §6.5): every deployment's manifest keeps its
/// `localhost/cairn-<manifest digest>` tag (made again if it went missing), such tags no
/// deployment uses are removed (other tags are left alone), and every deployment id is an extra
/// root, its boot image parsed so the objects it names are kept. Fails safe: an origin that
/// cannot be read stops everything before any tag is touched.
public enum DeploymentRoots {
    public struct Prepared: Codable, Sendable {
        /// `images/` names GC must keep (the deployment ids).
        public var roots: [String]
        public var tagsRemoved: [String] = []
        /// Tags a live deployment's manifest lacked (an older cairn's, or another tool's).
        public var tagsAdded: [String] = []
        /// What interrupted deploys and undeploys left (removed unless it is a dry run).
        public var leftovers: [String] = []
    }

    /// Reads every deployment; with `dryRun`, changes nothing and says what it would change.
    /// Holds the sysroot's lock, so no deploy is half-way meanwhile.
    public static func prepare(_ sysroot: Sysroot, repository: Repository, dryRun: Bool) throws -> Prepared {
        try sysroot.withLock {
            let ids = try sysroot.deploymentIDs()
            let store = ImageStore(repository)
            var wanted = Set<String>()
            var legacy = Set<String>()
            for id in ids {
                let origin: OriginFile
                do { origin = try sysroot.origin(of: id) } catch {
                    throw DeployError("garbage collection stopped before deleting anything: \(error) (repair or undeploy \(id) first)")
                }
                guard let text = origin.manifestDigest else {
                    legacy.insert(id)
                    continue
                }
                guard let digest = OCIDigest(text) else {
                    throw DeployError("garbage collection stopped before deleting anything: deployment \(id)'s origin has the manifest digest '\(text)'")
                }
                wanted.insert(Deployer.tagPrefix + digest.description)
            }
            // A deployment from before origins recorded the manifest digest keeps the tag of the
            // image whose boot variant it is, if the repository still has one (as bootc does).
            if !legacy.isEmpty {
                for image in try store.images() where image.bootImage.map(legacy.contains) == true {
                    wanted.insert(Deployer.tagPrefix + image.manifestDigest.description)
                }
            }
            var prepared = Prepared(roots: ids, leftovers: try sysroot.leftovers())
            let present = Set(try repository.streamRefs(under: "oci").map { ImageTags.decode($0.ref) })
            for tag in present.sorted() where tag.hasPrefix(Deployer.tagPrefix) && !wanted.contains(tag) {
                prepared.tagsRemoved.append(tag)
                if !dryRun { try store.untag(tag) }
            }
            for tag in wanted.subtracting(present).sorted() {
                // With its manifest or config stream gone, only the deployment's boot image
                // root keeps its files; status names the broken link and --repair mends it.
                let digest = "@" + tag.dropFirst(Deployer.tagPrefix.count)
                guard (try? store.image(named: digest))?.configDigest != nil else { continue }
                prepared.tagsAdded.append(tag)
                if !dryRun { try store.tag(digest, as: tag) }
            }
            if !dryRun {
                for leftover in prepared.leftovers { try FileSystem.removeTree(sysroot.deployments + "/" + leftover) }
            }
            return prepared
        }
    }
}
