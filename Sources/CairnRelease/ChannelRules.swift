import FoundationEssentials

/// The promotion rules of a repository (`cairn-channels.json`): which refs are channels, which
/// channel a channel may be promoted from, and the gates every promotion into it runs. Refs that
/// start with an isolated prefix (branch and PR builds, `br-` by default) are never channels.
///
/// ```json
/// { "schema": "cairn.channels.v1",
///   "isolated": ["br-", "pr-"],
///   "channels": {
///     "candidate": {},
///     "stable": { "from": ["candidate"], "gates": [
///       { "gate": "integrity", "deep": true },
///       { "gate": "content", "required": ["/usr/bin/bash"], "forbidden": ["/etc/shadow-"],
///         "per_kernel": { "required": ["vmlinuz", "modules.dep"] } },
///       { "gate": "kernel-modules", "required": ["extra/zfs/zfs.ko*"] },
///       { "gate": "soak", "minimum": "24h" } ] } } }
/// ```
public struct ChannelRules: Sendable {
    public static let schema = "cairn.channels.v1"

    public struct Channel: Sendable {
        /// The channels a promotion into this one may come from; none: it is published to.
        public var from: [String]
        public var gates: [GateRule]
    }

    public enum GateRule: Sendable {
        /// The build complete in the bucket; `deep`: every chunk downloaded, hashed, and the
        /// image they rebuild checked against the manifest.
        case integrity(deep: Bool)
        /// Paths (globs per component) the image must and must not hold, and the same relative
        /// to every kernel directory `/usr/lib/modules/<release>/`.
        case content(required: [String], forbidden: [String], perKernelRequired: [String], perKernelForbidden: [String])
        /// Modules every kernel directory must hold, each built for that kernel (`vermagic`).
        case kernelModules(required: [String])
        /// The build has been in the source channel at least this long.
        case soak(seconds: Int)

        public var name: String {
            switch self {
            case .integrity: "integrity"
            case .content: "content"
            case .kernelModules: "kernel-modules"
            case .soak: "soak"
            }
        }
    }

    public var channels: [String: Channel]
    public var isolated: [String]

    public init(parsing bytes: [UInt8], file: String) throws(ReleaseError) {
        let document: Document
        do { document = try JSONDecoder().decode(Document.self, from: Data(bytes)) } catch {
            throw .malformed(key: file, problem: "\(error)")
        }
        guard document.schema == Self.schema else { throw .malformed(key: file, problem: "schema is \(document.schema), not \(Self.schema)") }
        isolated = document.isolated ?? ["br-"]
        var channels = [String: Channel]()
        for (name, channel) in document.channels {
            guard !isolated.contains(where: name.hasPrefix) else { throw .malformed(key: file, problem: "channel \(name) starts with an isolated prefix") }
            var gates = [GateRule]()
            for gate in channel.gates ?? [] {
                switch gate.gate {
                case "integrity": gates.append(.integrity(deep: gate.deep ?? false))
                case "content":
                    gates.append(.content(
                        required: gate.required ?? [], forbidden: gate.forbidden ?? [],
                        perKernelRequired: gate.per_kernel?.required ?? [], perKernelForbidden: gate.per_kernel?.forbidden ?? []))
                case "kernel-modules":
                    guard let required = gate.required, !required.isEmpty else { throw .malformed(key: file, problem: "channel \(name): a kernel-modules gate names no module") }
                    gates.append(.kernelModules(required: required))
                case "soak":
                    guard let text = gate.minimum, let seconds = Self.duration(text) else {
                        throw .malformed(key: file, problem: "channel \(name): a soak gate needs a minimum such as 24h, 90m or 2d")
                    }
                    gates.append(.soak(seconds: seconds))
                default: throw .malformed(key: file, problem: "channel \(name): unknown gate \(gate.gate)")
                }
            }
            channels[name] = Channel(from: channel.from ?? [], gates: gates)
        }
        for (name, channel) in channels {
            for source in channel.from where channels[source] == nil {
                throw .malformed(key: file, problem: "channel \(name) is promoted from \(source), which is no channel")
            }
        }
        self.channels = channels
    }

    /// The channel `target` and its gates, if a promotion from `source` into it is allowed.
    public func promotion(from source: String, to target: String) throws(ReleaseError) -> Channel {
        guard let channel = channels[target] else { throw .invalidInput("\(target) is not a channel (channels: \(channels.keys.sorted().joined(separator: ", ")))") }
        guard channel.from.contains(source) else {
            throw .invalidInput(channel.from.isEmpty
                ? "\(target) is not promoted into; builds are published to it"
                : "\(target) may be promoted only from \(channel.from.joined(separator: " or ")), not from \(source)")
        }
        return channel
    }

    /// Seconds in `24h`, `90m`, `2d`, `3600s` (or a bare number of seconds).
    static func duration(_ text: String) -> Int? {
        let units = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let value = Int(text) { return value >= 0 ? value : nil }
        guard let unit = text.last.flatMap({ units[String($0)] }), let value = Int(text.dropLast()), value >= 0 else { return nil }
        return value * unit
    }

    private struct Document: Decodable {
        struct ChannelEntry: Decodable {
            var from: [String]?
            var gates: [GateEntry]?
        }
        struct GateEntry: Decodable {
            struct PerKernel: Decodable {
                var required: [String]?
                var forbidden: [String]?
            }
            var gate: String
            var deep: Bool?
            var required: [String]?
            var forbidden: [String]?
            var per_kernel: PerKernel?
            var minimum: String?
        }
        var schema: String
        var isolated: [String]?
        var channels: [String: ChannelEntry]
    }
}
