import ArgumentParser
import CairnComposefs

struct ComposefsInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "composefs-info",
        abstract: "Inspect composefs images and files, as C composefs-info does.",
        subcommands: [MeasureFile.self]
    )

    struct MeasureFile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "measure-file",
            abstract: "Print the fs-verity digest of each file, computed in user space.")

        @Option(help: "The fs-verity hash: sha256 (composefs-info's) or sha512 (bootc repositories).")
        var hash: String = "sha256"

        @Option(help: "Threads that hash one large file.")
        var threads = 2

        @Argument(help: "Files to measure.")
        var files: [String]

        func run() throws {
            guard let algorithm = FsVerityAlgorithm.allCases.first(where: { $0.description == hash }) else {
                throw ValidationError("--hash is sha256 or sha512")
            }
            for file in files {
                print(try FsVerity.digest(ofFile: file, algorithm: algorithm, jobs: threads).hexString)
            }
        }
    }
}
