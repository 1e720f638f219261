import ArgumentParser
import CairnIO
import CairnRelease
import SystemPackage

/// `--rules FILE`: the channel rules (default: cairn-channels.json in the working directory).
struct ChannelRulesOption: ParsableArguments {
    @Option(name: .customLong("rules"), help: ArgumentHelp("The channel rules (default: cairn-channels.json, if there is one).", valueName: "file"))
    var path: String?

    /// The rules; nil when no file was named and there is no default one (`required` makes
    /// that an error too).
    func load(required: Bool = false) throws -> ChannelRules? {
        let path = self.path ?? "cairn-channels.json"
        guard self.path != nil || required || FileSystem.exists(path) else { return nil }
        let bytes: [UInt8]
        do { bytes = try File.open(path, .readOnly).readAll() } catch { throw ValidationError("cannot read the rules file \(path): \(error)") }
        return try ChannelRules(parsing: bytes, file: path)
    }
}
