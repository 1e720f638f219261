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
        do { document = try JSONDecoder().decode(Strict<Document>.self, from: Data(bytes)).value } catch {
            throw .malformed(key: file, problem: "\(error)")
        }
        guard document.schema == Self.schema else { throw .malformed(key: file, problem: "schema is \(document.schema), not \(Self.schema)") }
        isolated = document.isolated ?? ["br-"]
        var channels = [String: Channel]()
        for (name, channel) in document.channels.mapValues(\.value) {
            guard !isolated.contains(where: name.hasPrefix) else { throw .malformed(key: file, problem: "channel \(name) starts with an isolated prefix") }
            guard (try? BuildIdentity.safeRef(name)) == name else { throw .malformed(key: file, problem: "channel \(name) is not a ref name (letters, digits, '.', '_', '-')") }
            var gates = [GateRule]()
            for gate in (channel.gates ?? []).map(\.value) {
                switch gate.gate {
                case "integrity": gates.append(.integrity(deep: gate.deep ?? false))
                case "content":
                    let rule = GateRule.content(
                        required: gate.required ?? [], forbidden: gate.forbidden ?? [],
                        perKernelRequired: gate.per_kernel?.value.required ?? [], perKernelForbidden: gate.per_kernel?.value.forbidden ?? [])
                    let patterns = (gate.required ?? []) + (gate.forbidden ?? []) + (gate.per_kernel?.value.required ?? []) + (gate.per_kernel?.value.forbidden ?? [])
                    guard !patterns.isEmpty else { throw .malformed(key: file, problem: "channel \(name): a content gate names no path") }
                    try Self.checkPatterns(patterns, file: file, channel: name)
                    gates.append(rule)
                case "kernel-modules":
                    guard let required = gate.required, !required.isEmpty else { throw .malformed(key: file, problem: "channel \(name): a kernel-modules gate names no module") }
                    try Self.checkPatterns(required, file: file, channel: name)
                    gates.append(.kernelModules(required: required))
                case "soak":
                    guard let text = gate.minimum, let seconds = Self.duration(text) else {
                        throw .malformed(key: file, problem: "channel \(name): a soak gate needs a minimum such as 24h, 90m or 2d")
                    }
                    gates.append(.soak(seconds: seconds))
                default: throw .malformed(key: file, problem: "channel \(name): unknown gate \(gate.gate)")
                }
            }
            // A channel promoted into without a gate would take anything: a typo, surely.
            if !(channel.from ?? []).isEmpty, gates.isEmpty { throw .malformed(key: file, problem: "channel \(name) is promoted into but has no gates") }
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

    /// The ref a publish to `ref` lands on: a channel builds are published to (when the ref was
    /// `explicit`ly asked for, not a branch that happens to share its name), or an isolated ref,
    /// as it is; any other (a branch) becomes isolated (`br-<ref>`), so a branch build never
    /// lands on a channel. A channel that is promoted into is refused.
    public func publishRef(for ref: String, explicit: Bool) throws(ReleaseError) -> String {
        if let channel = channels[ref] {
            guard channel.from.isEmpty else { throw promotedInto(ref, channel) }
            if explicit { return ref }
        }
        if isolated.contains(where: ref.hasPrefix) { return ref }
        let isolatedRef = (isolated.first ?? "br-") + ref
        guard channels[isolatedRef] == nil else { throw .invalidInput("\(ref) would be published as \(isolatedRef), which is a channel") }
        return isolatedRef
    }

    /// A ref moved by hand (`refs set`): never a channel that only promotion may move.
    public func checkManualMove(of ref: String) throws(ReleaseError) {
        if let channel = channels[ref], !channel.from.isEmpty { throw promotedInto(ref, channel) }
    }

    private func promotedInto(_ ref: String, _ channel: Channel) -> ReleaseError {
        .invalidInput("\(ref) moves only by `cairn promote` from \(channel.from.joined(separator: " or ")), after its gates pass")
    }

    /// Seconds in `24h`, `90m`, `2d`, `3600s` (or a bare number of seconds).
    static func duration(_ text: String) -> Int? {
        let units = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let value = Int(text) { return value >= 0 ? value : nil }
        guard let unit = text.last.flatMap({ units[String($0)] }), let value = Int(text.dropLast()), value >= 0 else { return nil }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : seconds
    }

    /// Path patterns are globs per component; `.`, `..` and `**` components would never match
    /// (a forbidden one would pass everything), so they are refused.
    static func checkPatterns(_ patterns: [String], file: String, channel: String) throws(ReleaseError) {
        for pattern in patterns {
            let components = pattern.split(separator: "/")
            guard !components.isEmpty, !components.contains(where: { [".", "..", "**"].contains($0) }) else {
                throw .malformed(key: file, problem: "channel \(channel): the path pattern '\(pattern)' has an empty, '.', '..' or '**' component")
            }
        }
    }

    private struct Document: StrictlyDecodable {
        struct ChannelEntry: StrictlyDecodable {
            var from: [String]?
            var gates: [Strict<GateEntry>]?
            enum CodingKeys: String, CodingKey, CaseIterable { case from, gates }
        }
        struct GateEntry: StrictlyDecodable {
            struct PerKernel: StrictlyDecodable {
                var required: [String]?
                var forbidden: [String]?
                enum CodingKeys: String, CodingKey, CaseIterable { case required, forbidden }
            }
            var gate: String
            var deep: Bool?
            var required: [String]?
            var forbidden: [String]?
            var per_kernel: Strict<PerKernel>?
            var minimum: String?
            enum CodingKeys: String, CodingKey, CaseIterable { case gate, deep, required, forbidden, per_kernel, minimum }
        }
        var schema: String
        var isolated: [String]?
        var channels: [String: Strict<ChannelEntry>]
        enum CodingKeys: String, CodingKey, CaseIterable { case schema, isolated, channels }
    }
}

/// A rules object whose keys are all its `CodingKeys`.
private protocol StrictlyDecodable: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
}

/// Decodes `Value` after refusing every key it does not know: a misspelt "gates" must not mean
/// "no gates".
private struct Strict<Value: StrictlyDecodable>: Decodable {
    let value: Value

    init(from decoder: any Decoder) throws {
        let known = Set(Value.CodingKeys.allCases.map(\.stringValue))
        let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown keys \(unknown.sorted().joined(separator: ", ")) (known: \(known.sorted().joined(separator: ", ")))"))
        }
        value = try Value(from: decoder)
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
