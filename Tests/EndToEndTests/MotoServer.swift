import Foundation

/// moto in server mode (an S3 service) on a free loopback port, with one bucket, for one test.
final class MotoServer {
    static let bucket = "cairn-test"
    let port: Int
    private let process = Process()
    private let scratch: Scratch

    var endpoint: String { "127.0.0.1:\(port)" }
    /// Credentials moto accepts (it checks that requests are signed, not the signature).
    let environment = ["AWS_ACCESS_KEY_ID": "cairn-test", "AWS_SECRET_ACCESS_KEY": "cairn-secret", "AWS_REGION": "us-east-1"]

    init() throws {
        scratch = try Scratch()
        port = try freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
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
    }

    /// The store URL of `prefix` in the test bucket.
    func store(_ prefix: String) -> String { "s3+http://\(endpoint)/\(Self.bucket)/\(prefix)" }

    deinit {
        // Children of the test process inherit its blocked SIGTERM; moto keeps nothing on disk.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
