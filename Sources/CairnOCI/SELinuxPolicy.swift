import CairnErofs
import CairnIO
import Foundation

/// The file labelling rules of an image's SELinux policy, read and applied as composefs-rs's
/// `selabel` does (reference/composefs.md §3.6), so a boot image cairn makes has the digest
/// composefs-rs gives it: `file_contexts`, `.local` and `.homedirs` specs in that order, the last
/// match winning; `.subs` and `.subs_dist` aliases replace a whole path (and so the start of every
/// path under it); each spec is the PCRE2 pattern `^(REGEX)T$` over the path followed by one type
/// character (`-` file, `d`, `l`, `p`, `s`, `b`, `c`; any when the spec names none).
struct SELinuxPolicy {
    struct Spec {
        var pattern: PCRE2Pattern
        /// nil for `<<none>>`: the file gets no label.
        var context: [UInt8]?
    }

    let specs: [Spec]
    let aliases: [[UInt8]: [UInt8]]

    /// `specFiles` and `subsFiles` in the order they are read, each with the name errors use.
    init(specFiles: [(name: String, bytes: [UInt8])], subsFiles: [(name: String, bytes: [UInt8])]) throws {
        var specs = [Spec]()
        for file in specFiles {
            for (number, fields) in Self.lines(file.bytes) {
                let place = "SELinux \(file.name) line \(number)"
                guard fields.count >= 2 else { throw OCIError("\(place): a regular expression without a context") }
                var type = UInt8(ascii: ".")
                var context = fields[1]
                if fields[1].first == UInt8(ascii: "-") {
                    guard fields[1].count == 2, let code = fields[1].last, Array("bcdpls-".utf8).contains(code) else {
                        throw OCIError("\(place): \(String(decoding: fields[1], as: UTF8.self)) is no file type")
                    }
                    guard fields.count >= 3 else { throw OCIError("\(place): a file type without a context") }
                    (type, context) = (code, fields[2])
                    guard fields.count == 3 else { throw OCIError("\(place): more than regex, type and context") }
                } else {
                    guard fields.count == 2 else { throw OCIError("\(place): more than regex and context") }
                }
                let source = Array("^(".utf8) + fields[0] + Array(")".utf8) + [type] + Array("$".utf8)
                let pattern: PCRE2Pattern
                do { pattern = try PCRE2Pattern(source) } catch {
                    let offset = min(max(0, error.offset - 2), fields[0].count)  // in the regex, not in `^(REGEX)T$`
                    throw OCIError("\(place): \(String(decoding: fields[0], as: UTF8.self)) does not compile: \(error.message) at offset \(offset)")
                }
                specs.append(Spec(pattern: pattern, context: context == Array("<<none>>".utf8) ? nil : context))
            }
        }
        var aliases = [[UInt8]: [UInt8]]()
        for file in subsFiles {
            for (number, fields) in Self.lines(file.bytes) {
                guard fields.count == 2 else { throw OCIError("SELinux \(file.name) line \(number): not an alias and the path it stands for") }
                aliases[fields[0]] = fields[1]
            }
        }
        (self.specs, self.aliases) = (specs, aliases)
    }

    /// The whitespace-separated fields of every line that is neither blank nor a comment, with
    /// its number from 1.
    private static func lines(_ bytes: [UInt8]) -> [(number: Int, fields: [[UInt8]])] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            let fields = line.split(whereSeparator: { $0 == 0x20 || (0x09...0x0d).contains($0) }).map(Array.init)
            guard let first = fields.first, first.first != UInt8(ascii: "#") else { return nil }
            return (index + 1, fields)
        }
    }

    /// Every spec: the candidates of the root, and of a path an alias moved elsewhere.
    var allSpecs: [Int] { Array(specs.indices) }

    /// Of `candidates`, the specs that could match a path starting with `directory` + `/`: the
    /// only ones worth trying below it (a policy has thousands; a deep directory needs few).
    func candidates(below directory: [UInt8], among candidates: [Int]) throws -> [Int] {
        let prefix = directory.last == UInt8(ascii: "/") ? directory : directory + [UInt8(ascii: "/")]
        return try candidates.filter { index in try matching(index, path: directory) { try $0.mayMatch(startingWith: prefix) } }
    }

    /// The context for `path` of type `type` (a type character), trying `candidates` (ascending)
    /// from the last; nil for no label.
    func label(_ path: [UInt8], type: UInt8, candidates: [Int]) throws -> [UInt8]? {
        let key = path + [type]
        for index in candidates.reversed() where try matching(index, path: path, { try $0.matches(key) }) {
            return specs[index].context
        }
        return nil
    }

    /// Runs `body` on spec `index`'s pattern; PCRE2's failure becomes an error naming the path.
    private func matching(_ index: Int, path: [UInt8], _ body: (PCRE2Pattern) throws -> Bool) throws -> Bool {
        do { return try body(specs[index].pattern) } catch let error as PCRE2Pattern.PatternError {
            throw OCIError("SELinux spec \(index + 1) cannot be matched against \(RawPath.display(path)): \(error.message)")
        }
    }

    /// The type character of a file type.
    static func typeCharacter(_ type: FileType) -> UInt8 {
        switch type {
        case .directory: UInt8(ascii: "d")
        case .symlink: UInt8(ascii: "l")
        case .fifo: UInt8(ascii: "p")
        case .socket: UInt8(ascii: "s")
        case .blockDevice: UInt8(ascii: "b")
        case .characterDevice: UInt8(ascii: "c")
        case .regular, .unknown: UInt8(ascii: "-")
        }
    }

    /// `SELINUXTYPE` from `/etc/selinux/config`, if it sets one.
    static func policyName(config: [UInt8]) -> String? {
        for line in config.split(separator: UInt8(ascii: "\n")) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = String(decoding: line[..<equals], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if key.lowercased() == "selinuxtype" {
                return String(decoding: line[(equals + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return nil
    }
}
