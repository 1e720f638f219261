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
        public var tagsRemoved: [String]
        public var tagsRestored: [String]
        /// Interrupted deploys and undeploys cleaned away.
        public var leftoversRemoved: [String]
    }

    /// Reads every deployment; with `dryRun`, changes nothing and says what it would change.
    public static func prepare(_ sysroot: Sysroot, repository: Repository, dryRun: Bool) throws -> Prepared {
        let ids = try sysroot.deploymentIDs()
        var wanted = Set<String>()
        for id in ids {
            let origin: OriginFile
            do { origin = try sysroot.origin(of: id) } catch {
                throw DeployError("garbage collection stopped before deleting anything: \(error) (repair or undeploy \(id) first)")
            }
            guard let text = origin.manifestDigest else { continue }  // legacy: kept by its boot image alone
            guard let digest = OCIDigest(text) else {
                throw DeployError("garbage collection stopped before deleting anything: deployment \(id)'s origin has the manifest digest '\(text)'")
            }
            wanted.insert(Deployer.tagPrefix + digest.description)
        }
        var prepared = Prepared(roots: ids, tagsRemoved: [], tagsRestored: [], leftoversRemoved: try sysroot.leftovers())
        let store = ImageStore(repository)
        let present = Set(try repository.streamRefs(under: "oci").map { ImageTags.decode($0.ref) })
        for tag in present.sorted() where tag.hasPrefix(Deployer.tagPrefix) && !wanted.contains(tag) {
            prepared.tagsRemoved.append(tag)
            if !dryRun { try store.untag(tag) }
        }
        for tag in wanted.subtracting(present).sorted() {
            // The manifest stream may be gone too; then only the boot image root keeps the
            // deployment's files, and status names the broken link.
            let digest = String(tag.dropFirst(Deployer.tagPrefix.count))
            guard try repository.streamDigest(named: "oci-manifest-" + digest) != nil else { continue }
            prepared.tagsRestored.append(tag)
            if !dryRun { try store.tag("@" + digest, as: tag) }
        }
        if !dryRun {
            for leftover in prepared.leftoversRemoved { try FileSystem.removeTree(sysroot.deployments + "/" + leftover) }
        }
        return prepared
    }
}
