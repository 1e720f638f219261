import CairnIO
import FoundationEssentials
import SystemPackage

/// The build inputs a manifest records (base image digest, kernel version, package lock hashes…),
/// so that a build can be traced and replayed.
public enum BuildInputs {
    /// Inputs from `KEY=VALUE` arguments and an optional file holding a JSON object of strings or
    /// `KEY=VALUE` lines (blank lines and `#` comments skipped). Arguments win over the file.
    public static func parse(pairs: [String], file: String?) throws -> [String: String] {
        var inputs = [String: String]()
        if let file {
            let bytes = try File.open(file, .readOnly).readAll()
            if let object = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
                inputs = object
            } else {
                for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let text = line.trimmed()
                    if text.isEmpty || text.hasPrefix("#") { continue }
                    let (key, value) = try pair(text, what: "\(file) line \(number + 1)")
                    inputs[key] = value
                }
            }
        }
        for text in pairs {
            let (key, value) = try pair(text, what: "--input \(text)")
            inputs[key] = value
        }
        return inputs
    }

    private static func pair(_ text: String, what: String) throws(ReleaseError) -> (String, String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw .invalidInput("\(what): expected KEY=VALUE")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }
}
