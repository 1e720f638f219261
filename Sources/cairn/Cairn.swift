import ArgumentParser

@main
struct Cairn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Chunk, store, publish and restore OS images, byte-compatible with casync.",
        version: version,
        subcommands: [
            MakeCommand.self, ExtractCommand.self, DigestCommand.self, VerifyCommand.self,
            InfoCommand.self, ListChunksCommand.self, ChunkCommand.self, GCCommand.self,
            PublishCommand.self, PullCommand.self, RefsCommand.self, BucketCommand.self, RepairCommand.self,
            MkcomposefsCommand.self, ComposefsInfoCommand.self, MkfsErofsCommand.self, RepoCommand.self, OCICommand.self,
            DeployCommand.self, StatusCommand.self, UndeployCommand.self, MountDeploymentCommand.self, PromoteCommand.self, AuditCommand.self, InputsCommand.self, BuildCommand.self,
        ]
    )

    static let version = "0.4.0"
}
