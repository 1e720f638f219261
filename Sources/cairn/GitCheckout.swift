import CairnIO
import CairnRelease
import SystemPackage

/// The commit and branch of the git checkout in the current directory, read from `.git` (no
/// git binary needed), for builds outside CI.
enum GitCheckout {
    /// The full commit id HEAD names, if it can be read.
    static func head() -> String? {
        guard let head = read(".git/HEAD") else { return nil }
        guard head.hasPrefix("ref: ") else { return head }
        let ref = String(head.dropFirst(5))
        if let commit = read(".git/" + ref) { return commit }
        // Refs that git packed: lines of "<commit> <ref>".
        return read(".git/packed-refs")?.split(separator: "\n").first { $0.hasSuffix(" " + ref) }.map { String($0.prefix(while: { $0 != " " })) }
    }

    /// The checked-out branch, if HEAD names one.
    static func branch() -> String? {
        guard let head = read(".git/HEAD"), head.hasPrefix("ref: refs/heads/") else { return nil }
        return String(head.dropFirst("ref: refs/heads/".count))
    }

    private static func read(_ path: String) -> String? {
        guard let bytes = try? File.open(path, .readOnly).readAll() else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmed()
        return text.isEmpty ? nil : text
    }
}
