import CairnComposefs
import CairnIO
import CairnOCI
import FoundationEssentials
import SystemPackage

/// One deployment as `cairn status` reports it, read back along its chain: origin → manifest
/// digest → manifest stream (its SHA-256 recomputed) → config stream (likewise); or the legacy
/// `<id>.imginfo` sidecar when the origin has no manifest digest. A missing or damaged link is
/// named in `problems`; the other deployments are still reported.
public struct DeploymentStatus: Codable, Sendable {
    public var id: String
    public var booted = false
    public var staged = false
    public var imageReference: String?
    public var manifestDigest: OCIDigest?
    public var configDigest: OCIDigest?
    /// The `org.opencontainers.image.version` label.
    public var version: String?
    public var created: String?
    /// "origin", or "imginfo" for a legacy deployment.
    public var recordedIn = "origin"
    public var problems: [String] = []

    /// Every deployment of `sysroot`, in id order.
    public static func all(in sysroot: Sysroot, repository: Repository, bootedID: String?) throws -> [DeploymentStatus] {
        let staged = sysroot.stagedID()
        return try sysroot.deploymentIDs().map { id in
            var status = read(id, in: sysroot, repository: repository)
            // The staged record outlives the boot into it (bootc keeps its own in /run).
            (status.booted, status.staged) = (id == bootedID, id == staged && id != bootedID)
            return status
        }
    }

    static func read(_ id: String, in sysroot: Sysroot, repository: Repository) -> DeploymentStatus {
        var status = DeploymentStatus(id: id)
        if !FileSystem.exists(repository.path + "/images/" + id) {
            status.problems.append("its boot image \(repository.path)/images/\(id) is missing")
        }
        let origin: OriginFile
        do { origin = try sysroot.origin(of: id) } catch {
            status.problems.append("\(error)")
            return status
        }
        status.imageReference = origin.imageReference
        guard let digestText = origin.manifestDigest else {
            status.recordedIn = "imginfo"
            do {
                let legacy = try JSONDecoder().decode(LegacyInfo.self, from: Data(try File.open(sysroot.legacyInfoPath(of: id), .readOnly).readAll()))
                status.configDigest = legacy.manifest.config.digest
                (status.version, status.created) = (legacy.config.config?.Labels?[versionLabel], legacy.config.created)
            } catch {
                status.problems.append("its origin has no manifest_digest and \(sysroot.legacyInfoPath(of: id)) cannot be read: \(error)")
            }
            return status
        }
        guard let digest = OCIDigest(digestText) else {
            status.problems.append("its origin's manifest_digest '\(digestText)' is not a sha256 digest")
            return status
        }
        status.manifestDigest = digest
        do {
            let documents = try ImageStore(repository).documents(of: "@" + digest.description)
            status.configDigest = documents.image.configDigest
            guard let config = documents.config else {
                status.problems.append("its manifest \(digest) is an artifact, not a container image")
                return status
            }
            let labels = try JSONDecoder().decode(ConfigLabels.self, from: Data(config))
            (status.version, status.created) = (labels.config?.Labels?[versionLabel], labels.created)
        } catch {
            status.problems.append("\(error) (`cairn deploy --repair \(id)` pulls it again)")
        }
        return status
    }

    static let versionLabel = "org.opencontainers.image.version"

    private struct ConfigLabels: Decodable {
        struct Inner: Decodable { var Labels: [String: String]? }
        var config: Inner?
        var created: String?
    }

    /// bootc's `.imginfo`: `{"config": <OCI config>, "manifest": <OCI manifest>}`.
    private struct LegacyInfo: Decodable {
        struct Manifest: Decodable {
            struct Config: Decodable { var digest: OCIDigest }
            var config: Config
        }
        var manifest: Manifest
        var config: ConfigLabels
    }
}
