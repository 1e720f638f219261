import ArgumentParser
import CairnComposefs
import CairnDeploy
import FoundationEssentials

/// `--sysroot DIR` and `--repo DIR`: where deployments live, and their repository.
struct SysrootOption: ParsableArguments {
    @Option(name: .customLong("sysroot"), help: ArgumentHelp("The physical root holding state/deploy/ (default: $CAIRN_SYSROOT, else /sysroot).", valueName: "dir"))
    var directory: String?

    @Option(name: .customLong("repo"), help: ArgumentHelp("The composefs repository (default: $CAIRN_REPO, else SYSROOT/composefs).", valueName: "dir"))
    var repositoryDirectory: String?

    var sysroot: Sysroot {
        let environment = ProcessInfo.processInfo.environment
        return Sysroot(directory ?? environment["CAIRN_SYSROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/sysroot")
    }

    /// `--repo`, else SYSROOT/composefs when `--sysroot` is given, else $CAIRN_REPO.
    var repositoryPath: String {
        if let repositoryDirectory { return repositoryDirectory }
        if directory == nil, let path = ProcessInfo.processInfo.environment["CAIRN_REPO"], !path.isEmpty { return path }
        return sysroot.repository
    }

    func openRepository(_ access: Repository.Access = .shared) throws -> Repository { try Repository.open(at: repositoryPath, access: access) }
}
