import Foundation

/// moto in server mode (an S3 service) on a free loopback port, with one bucket, for one test.
final class MotoServer {
    static let bucket = "cairn-test"
    /// An Authorization header moto accepts when it does not check signatures (raw requests by curl).
    static let anyAuthorization = "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
    let port: Int
    private let process = Process()
    private let scratch: Scratch

    var endpoint: String { "127.0.0.1:\(port)" }
    /// Credentials moto accepts. By default it checks that requests are signed, not the
    /// signature; a server started with `checkingSignatures` checks them (servers.md §1.4).
    private(set) var environment = ["AWS_ACCESS_KEY_ID": "cairn-test", "AWS_SECRET_ACCESS_KEY": "cairn-secret", "AWS_REGION": "us-east-1"]

    /// - Parameter checkingSignatures: moto's IAM mode, where it recomputes every signature with
    ///   botocore. Its own bug rejects keys and query values that need percent-encoding.
    init(checkingSignatures: Bool = false) throws {
        scratch = try Scratch()
        port = try freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // In IAM mode the first four requests (bucket, user, policy, key) go unchecked.
        process.arguments = (checkingSignatures ? ["INITIAL_NO_AUTH_ACTION_COUNT=4"] : [])
            + ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.write("moto.log", [])))
        try process.run()
        var ready = false
        for _ in 0..<300 where !ready {
            ready = (try? run("curl", ["-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}", "http://\(endpoint)/moto-api/"]))?.stdout == "200"
            if !ready { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard ready else { throw ServerError("moto did not start on port \(port): \(String(decoding: try scratch.read("moto.log"), as: UTF8.self))") }
        let created = try run("curl", [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
            "-H", "Authorization: AWS4-HMAC-SHA256 Credential=cairn-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            "http://\(endpoint)/\(Self.bucket)",
        ])
        guard created.stdout == "200" else { throw ServerError("moto did not create bucket \(Self.bucket): \(created.stdout)") }
        if checkingSignatures { try createAccessKey() }
    }

    /// Creates an IAM user allowed everything and makes its new key the one tests use.
    private func createAccessKey() throws {
        func iam(_ form: [String]) throws -> String {
            let answer = try run("curl", [
                "-s", "-H", "Authorization: AWS4-HMAC-SHA256 Credential=bootstrap/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ] + form.flatMap { ["--data-urlencode", $0] } + ["http://\(endpoint)/"]).stdout
            guard answer.contains("Response xmlns") else { throw ServerError("moto IAM \(form.first ?? ""): \(answer)") }
            return answer
        }
        _ = try iam(["Action=CreateUser", "UserName=tester", "Version=2010-05-08"])
        _ = try iam(["Action=PutUserPolicy", "UserName=tester", "PolicyName=all", "Version=2010-05-08",
                     #"PolicyDocument={"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#])
        let key = try iam(["Action=CreateAccessKey", "UserName=tester", "Version=2010-05-08"])
        func element(_ name: String) -> String? {
            guard let start = key.range(of: "<\(name)>"), let end = key.range(of: "</\(name)>") else { return nil }
            return String(key[start.upperBound..<end.lowerBound])
        }
        guard let id = element("AccessKeyId"), let secret = element("SecretAccessKey") else { throw ServerError("moto IAM key: \(key)") }
        environment["AWS_ACCESS_KEY_ID"] = id
        environment["AWS_SECRET_ACCESS_KEY"] = secret
    }

    /// The store URL of `prefix` in the test bucket.
    func store(_ prefix: String) -> String { "s3+http://\(endpoint)/\(Self.bucket)/\(prefix)" }

    deinit {
        // Children of the test process inherit its blocked SIGTERM; moto keeps nothing on disk.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
