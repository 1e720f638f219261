/// Where an S3 store lives, from a desync-style URL:
/// `s3+http(s)://HOST[:PORT]/BUCKET[/PREFIX][?lookup=path|dns]`.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public var secure: Bool
    /// Host and optional port of the endpoint, as the `Host` header carries it.
    public var endpoint: String
    public var bucket: String
    /// The key prefix, without leading or trailing slashes ("" for the bucket root).
    public var prefix: String
    /// Virtual-hosted addressing (`BUCKET.HOST`) instead of path-style (`HOST/BUCKET`).
    public var virtualHosted: Bool

    public init(parsing url: String) throws {
        let secure: Bool
        var rest: Substring
        if url.hasPrefix("s3+https://") {
            (secure, rest) = (true, url.dropFirst("s3+https://".count))
        } else if url.hasPrefix("s3+http://") {
            (secure, rest) = (false, url.dropFirst("s3+http://".count))
        } else {
            throw S3Error("\(url) is not an s3+http:// or s3+https:// store URL")
        }
        var virtualHosted = false
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            rest = rest[..<question]
            for pair in query.split(separator: "&") {
                switch pair {
                case "lookup=dns": virtualHosted = true
                case "lookup=path", "lookup=auto": virtualHosted = false
                default: throw S3Error("\(url): unknown option \(pair) (only lookup=path or lookup=dns)")
                }
            }
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2 else { throw S3Error("\(url) names no bucket: use s3+https://HOST/BUCKET[/PREFIX]") }
        self.secure = secure
        endpoint = String(parts[0])
        bucket = String(parts[1])
        prefix = parts.dropFirst(2).joined(separator: "/")
        self.virtualHosted = virtualHosted
    }

    /// The `Host` header of requests.
    public var host: String { virtualHosted ? "\(bucket).\(endpoint)" : endpoint }

    /// The path of an object key, as signed and sent (before encoding).
    public func path(ofKey key: String) -> String { virtualHosted ? "/\(key)" : "/\(bucket)/\(key)" }

    /// The path of bucket-level requests (listing, batch delete).
    public var bucketPath: String { virtualHosted ? "/" : "/\(bucket)" }

    /// The full key of a name under the prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)/\(name)" }

    public var baseURL: String { "\(secure ? "https" : "http")://\(host)" }

    public var description: String {
        "s3+\(secure ? "https" : "http")://\(endpoint)/\(bucket)\(prefix.isEmpty ? "" : "/" + prefix)\(virtualHosted ? "?lookup=dns" : "")"
    }
}

/// A failed S3 operation, naming the object and what the server said.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
