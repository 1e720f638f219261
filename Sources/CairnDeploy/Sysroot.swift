import CairnIO
import Foundation
import SystemPackage

/// The physical root a deployment lives on (bootc's layout, reference/composefs.md §6.1):
/// `composefs/` (the repository), `state/deploy/<id>/` (each deployment: a writable copy of
/// `/etc`, `var` linking to `state/os/default/var`, `<id>.origin`), and `state/staged`, the id
/// the next boot should use (bootc keeps it in /run/composefs/staged-deployment).
public struct Sysroot: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    public var repository: String { path + "/composefs" }

    /// The sysroot whose deployments a GC of `repository` must keep: `explicit` (which must
    /// have `state/deploy/`: a GC that saw no deployments would free them all), else the
    /// repository's parent when the repository is its `composefs/` and `state/deploy/` is there.
    public static func holding(repository: String, explicit: String?) throws -> Sysroot? {
        if let explicit {
            guard FileSystem.exists(Sysroot(explicit).deployments) else {
                throw DeployError("\(explicit) has no state/deploy/ (not a sysroot, or its state is not mounted)")
            }
            return Sysroot(explicit)
        }
        var path = repository
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        guard FileSystem.lastComponent(of: path) == "composefs" else { return nil }
        let candidate = Sysroot(FileSystem.directory(of: path))
        return FileSystem.exists(candidate.deployments) ? candidate : nil
    }

    /// Runs `body` holding `state/deploy/.lock` exclusively: deploys, undeploys and GC's
    /// clean-up never meet one another's staging and removal directories.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try FileSystem.makeDirectories(deployments, permissions: 0o755)
        return try FileSystem.withExclusiveLock(deployments + "/.lock", body)
    }
    public var deployments: String { path + "/state/deploy" }
    public var sharedVar: String { path + "/state/os/default/var" }
    public var stagedRecord: String { path + "/state/staged" }

    public func directory(of id: String) -> String { deployments + "/" + id }
    public func originPath(of id: String) -> String { directory(of: id) + "/" + id + ".origin" }
    public func legacyInfoPath(of id: String) -> String { directory(of: id) + "/" + id + ".imginfo" }

    /// Where a deployment is put together before it takes its name, and where it goes to be
    /// deleted: one left behind is an interrupted deploy or undeploy, removed by the next deploy
    /// or GC.
    static let stagingPrefix = ".staging-"
    static let removalPrefix = ".removing-"

    /// Deployment ids, sorted: directories of `state/deploy/` named by a digest.
    public func deploymentIDs() throws -> [String] {
        guard FileSystem.exists(deployments) else { return [] }
        return try FileSystem.contents(of: deployments).filter(Self.isDeploymentID).sorted()
    }

    /// What interrupted deploys and undeploys left in `state/deploy/` (their directory names).
    public func leftovers() throws -> [String] {
        guard FileSystem.exists(deployments) else { return [] }
        return try FileSystem.contents(of: deployments).filter { $0.hasPrefix(Self.stagingPrefix) || $0.hasPrefix(Self.removalPrefix) }.sorted()
    }

    /// A deployment id is a fs-verity digest in hex (128 digits for SHA-512, 64 for SHA-256).
    public static func isDeploymentID(_ name: String) -> Bool {
        (name.utf8.count == 128 || name.utf8.count == 64) && name.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public func origin(of id: String) throws -> OriginFile {
        let path = originPath(of: id)
        let bytes: [UInt8]
        do { bytes = try File.open(path, .readOnly).readAll() } catch { throw DeployError("deployment \(id): its origin cannot be read: \(error)") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw DeployError("\(path) is not UTF-8 text") }
        return try OriginFile(parsing: text, file: path)
    }

    /// The staged deployment's id, if one is recorded.
    public func stagedID() -> String? {
        guard let bytes = try? File.open(stagedRecord, .readOnly).readAll() else { return nil }
        let id = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Self.isDeploymentID(id) ? id : nil
    }

    /// The booted deployment's id: `composefs=` on the kernel command line (a leading `?`, the
    /// mark of an image booted without fs-verity, dropped).
    public static func bootedID(commandLine: String) -> String? {
        for word in commandLine.split(whereSeparator: \.isWhitespace) where word.hasPrefix("composefs=") {
            var value = word.dropFirst("composefs=".count)
            if value.hasPrefix("?") { value = value.dropFirst() }
            return String(value)
        }
        return nil
    }
}
