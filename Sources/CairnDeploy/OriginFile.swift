import Foundation
/// A deployment's `<id>.origin` (reference/composefs.md §6.2), the INI file bootc writes:
/// `[origin] container-image-reference`, `[image] manifest_digest`, `[boot] boot_type/digest`.
/// Sections and keys are kept in file order; unknown ones survive a rewrite.
public struct OriginFile: Equatable, Sendable {
    public static let containerKey = "container-image-reference"
    /// ostree-ext's prefix for a reference pulled without signature checks.
    public static let unverifiedPrefix = "ostree-unverified-image:"

    public var sections: [(name: String, entries: [(key: String, value: String)])] = []

    public init() {}

    /// Parses `text`; a line that is neither a section, a `key=value`, a comment nor blank is an
    /// error naming `file` and the line.
    public init(parsing text: String, file: String) throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else { throw DeployError("\(file) line \(number + 1): '\(line)' is not a [section]") }
                sections.append((String(line.dropFirst().dropLast()), []))
                continue
            }
            guard let equals = line.firstIndex(of: "="), !sections.isEmpty else {
                throw DeployError("\(file) line \(number + 1): '\(line)' is not key=value inside a [section]")
            }
            sections[sections.count - 1].entries.append((line[..<equals].trimmingCharacters(in: .whitespaces), line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
    }

    public subscript(section: String, key: String) -> String? {
        // A section may appear more than once (bootc's INI writer repeats them): the last wins.
        get { sections.reversed().lazy.compactMap { $0.name == section ? $0.entries.last { $0.key == key }?.value : nil }.first }
        set {
            let sectionIndex = sections.firstIndex { $0.name == section } ?? {
                sections.append((section, []))
                return sections.count - 1
            }()
            sections[sectionIndex].entries.removeAll { $0.key == key }
            if let newValue { sections[sectionIndex].entries.append((key, newValue)) }
        }
    }

    public var text: String {
        sections.map { section in (["[\(section.name)]"] + section.entries.map { "\($0.key)=\($0.value)" }).joined(separator: "\n") + "\n" }.joined()
    }

    /// The image reference without ostree-ext's transport prefix (`docker://…`, `oci:…`).
    public var imageReference: String? {
        self["origin", Self.containerKey].map { $0.hasPrefix(Self.unverifiedPrefix) ? String($0.dropFirst(Self.unverifiedPrefix.count)) : $0 }
    }

    public var manifestDigest: String? { self["image", "manifest_digest"] }

    public static func == (a: OriginFile, b: OriginFile) -> Bool { a.text == b.text }
}
