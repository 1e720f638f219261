@preconcurrency import Glibc

/// An access key for an S3-compatible service. Its description never shows the secret.
public struct S3Credentials: Sendable, CustomStringConvertible {
    public let accessKeyID: String
    let secretAccessKey: String
    let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        (self.accessKeyID, self.secretAccessKey, self.sessionToken) = (accessKeyID, secretAccessKey, sessionToken)
    }

    /// The environment's credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
    /// else `R2_ACCESS_KEY_ID`/`R2_SECRET_ACCESS_KEY`.
    public static func fromEnvironment() -> S3Credentials? {
        for (id, secret, token) in [("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
                                    ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", nil)] {
            if let key = environment(id), let secretKey = environment(secret) {
                return S3Credentials(accessKeyID: key, secretAccessKey: secretKey, sessionToken: token.flatMap(environment))
            }
        }
        return nil
    }

    /// The region to sign for: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`. R2 takes `auto`.
    public static func regionFromEnvironment() -> String {
        environment("AWS_REGION") ?? environment("AWS_DEFAULT_REGION") ?? "us-east-1"
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name), value.pointee != 0 else { return nil }
        return String(cString: value)
    }

    public var description: String { "access key \(accessKeyID)" }
}
