import ArgumentParser
import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO

struct ComposefsInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "composefs-info",
        abstract: "Inspect composefs images and files, as C composefs-info does.",
        subcommands: [Dump.self, Objects.self, MissingObjects.self, MeasureFile.self]
    )

    struct Images: ParsableArguments {
        @Argument(help: "composefs images.")
        var images: [String]

        func trees() throws -> [FileNode] {
            try images.map { path in
                do {
                    return try ComposefsImage.read(try ErofsImage(try FileImage(path: path)))
                } catch let error as ErofsError {
                    throw CommandFailure("\(path): \(error)")
                }
            }
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each image as a dumpfile.")
        @OptionGroup var images: Images

        func run() throws {
            for tree in try images.trees() { try File.writeStandardOutput(Dumpfile.write(tree)) }
        }
    }

    struct Objects: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the backing objects the images refer to, sorted.")
        @OptionGroup var images: Images

        func run() throws {
            for object in Set(try images.trees().flatMap(ComposefsImage.objects(of:))).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                try File.writeStandardOutput(object + [UInt8(ascii: "\n")])
            }
        }
    }

    struct MissingObjects: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "missing-objects", abstract: "Print the backing objects the images refer to that DIR lacks.")
        @Option(help: "The digest store (object directory).")
        var basedir: String
        @OptionGroup var images: Images

        func run() throws {
            let objects = Set(try images.trees().flatMap(ComposefsImage.objects(of:)))
            for object in objects.sorted(by: { $0.lexicographicallyPrecedes($1) }) where !FileSystem.exists(basedir + "/" + String(decoding: object, as: UTF8.self)) {
                try File.writeStandardOutput(object + [UInt8(ascii: "\n")])
            }
        }
    }

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
                print(Hex.encode(try FsVerity.digest(ofFile: file, algorithm: algorithm, jobs: threads)))
            }
        }
    }
}
