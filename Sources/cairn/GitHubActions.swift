import CairnIO
import CairnRelease
import SystemPackage

/// In GitHub Actions, a publish's figures go to `$GITHUB_OUTPUT` (for later steps) and a short
/// table to `$GITHUB_STEP_SUMMARY` (for people).
enum GitHubActions {
    static func record(_ report: PublishReport, dryRunReason: String?) throws {
        let manifest = report.manifest
        let dedupe = manifest.dedupe
        if let path = ProcessEnvironment.value("GITHUB_OUTPUT"), !path.isEmpty {
            let outputs: [(String, String)] = [
                ("build_id", manifest.build.id), ("published", String(report.published)),
                ("new_bytes", String(dedupe.newBytes)), ("reused_bytes", String(dedupe.reusedBytes)),
                ("new_chunks", String(dedupe.newChunks)), ("reused_chunks", String(dedupe.reusedChunks)),
                ("manifest_key", report.manifestKey),
                ("index_key", manifest.index.key), ("image_key", manifest.image.key),
                ("image_sha256", manifest.image.sha256), ("casync_digest", manifest.image.casyncDigest),
            ]
            try append(outputs.map { "\($0.0)=\($0.1)\n" }.joined(), to: path)
        }
        if let path = ProcessEnvironment.value("GITHUB_STEP_SUMMARY"), !path.isEmpty {
            let total = dedupe.newBytes + dedupe.reusedBytes
            let share = total == 0 ? 0 : Double(dedupe.reusedBytes) * 100 / Double(total)
            let status = report.published ? "published to `\(manifest.ref)`" : "dry run: \(dryRunReason ?? "nothing uploaded")"
            try append("""
                ### cairn publish \(manifest.build.id)

                \(status)

                | | chunks | bytes |
                |---|---:|---:|
                | new | \(dedupe.newChunks) | \(dedupe.newBytes) |
                | reused | \(dedupe.reusedChunks) | \(dedupe.reusedBytes) (\(Int(share.rounded()))%) |
                | uploaded | \(report.uploadedChunks) | \(report.uploadedBytes) (compressed) |

                Image SHA-256 `\(manifest.image.sha256)`, \(manifest.image.size) bytes.

                """, to: path)
        }
    }

    private static func append(_ text: String, to path: String) throws {
        // O_APPEND: the write lands at the end whatever the offset, after earlier steps' lines.
        let file = try File.open(path, .writeOnly, options: [.create, .append], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        try file.write(Array(text.utf8), at: 0)
    }
}
