/// Which build an image is: the CI run, its attempt and the commit, as the seed names builds
/// (`<run>-<attempt>-<sha>`).
public struct BuildIdentity: Sendable, Codable, Equatable {
    public var run: String
    public var attempt: String
    public var sha: String

    public init(run: String, attempt: String, sha: String) throws(ReleaseError) {
        for (name, value) in [("run", run), ("attempt", attempt), ("sha", sha)] {
            guard !value.isEmpty, value.utf8.allSatisfy(Self.isKeyByte) else {
                throw .invalidInput("build \(name) \"\(value)\" must be non-empty and use only letters, digits, '.', '_' and '-'")
            }
        }
        (self.run, self.attempt, self.sha) = (run, attempt, sha)
    }

    /// The build's name in keys: `<run>-<attempt>-<sha>`.
    public var id: String { "\(run)-\(attempt)-\(sha)" }

    /// Checks a build id given by a person (`pull --build`, `refs set`) before it goes into a key.
    public static func validateID(_ id: String) throws(ReleaseError) -> String {
        guard !id.isEmpty, !id.hasPrefix("."), id.utf8.allSatisfy(isKeyByte) else {
            throw .invalidInput("build \"\(id)\" is not a build id: expected <run>-<attempt>-<sha> of letters, digits, '.', '_' and '-'")
        }
        return id
    }

    static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// A branch or tag name made safe for a key: every run of other characters (`/`, spaces,
    /// `:`…) becomes one `-`, and no leading `.` or `-` is left, so `feature/x` is `feature-x`.
    public static func safeRef(_ name: String) throws(ReleaseError) -> String {
        var safe = ""
        for byte in name.utf8 {
            if isKeyByte(byte) {
                safe.append(Character(Unicode.Scalar(byte)))
            } else if !safe.hasSuffix("-") {
                safe.append("-")
            }
        }
        while safe.hasPrefix(".") || safe.hasPrefix("-") { safe.removeFirst() }
        while safe.hasSuffix("-") { safe.removeLast() }
        guard !safe.isEmpty else { throw .invalidInput("ref \"\(name)\" has nothing usable in a key") }
        return safe
    }
}

extension StringProtocol {
    /// Without leading and trailing white space and newlines.
    public func trimmed() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
