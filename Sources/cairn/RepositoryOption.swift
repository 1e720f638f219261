import ArgumentParser
import CairnComposefs
import FoundationEssentials
import Glibc

/// `--repo DIR`: the composefs repository a command works on.
struct RepositoryOption: ParsableArguments {
    @Option(name: .customLong("repo"), help: ArgumentHelp(
        "The composefs repository (default: $CAIRN_REPO, else /sysroot/composefs for root, ~/.var/lib/composefs for others).",
        valueName: "dir"))
    var directory: String?

    var path: String {
        if let directory { return directory }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CAIRN_REPO"], !path.isEmpty { return path }
        return getuid() == 0 ? "/sysroot/composefs" : (environment["HOME"] ?? ".") + "/.var/lib/composefs"
    }

    func open(_ access: Repository.Access = .shared) throws -> Repository { try Repository.open(at: path, access: access) }
}
