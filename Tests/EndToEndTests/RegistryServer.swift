import Foundation

/// Debian's docker-registry (distribution) on a free loopback port for the duration of a test;
/// with `tokenAuth`, a second instance on the same storage demands bearer tokens (`silly` auth)
/// from a small token server (Tests/Support/token_server.py), which can require credentials.
final class RegistryServer {
    let port: Int
    /// The instance behind the token challenge, and its token server's request log.
    let authenticatedPort: Int?
    private var processes = [Process]()
    private let scratch: Scratch

    var tokenLog: String { scratch.file("token.log") }

    init(tokenAuth: Bool = false, requiredCredentials: String? = nil) throws {
        scratch = try Scratch()
        port = try freePort()
        authenticatedPort = tokenAuth ? try freePort() : nil
        try start(port: port, auth: nil)
        if let authenticatedPort {
            let tokenPort = try freePort()
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Support/token_server.py").path
            try launch(try python(), [script, String(tokenPort), tokenLog] + (requiredCredentials.map { [$0] } ?? []), waitFor: tokenPort)
            try start(port: authenticatedPort, auth: "http://127.0.0.1:\(tokenPort)/token")
        }
    }

    private func start(port: Int, auth realm: String?) throws {
        let config = scratch.file("config-\(port).yml")
        var text = """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(scratch.file("data"))
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              secret: localtestsecret

            """
        if let realm {
            text += """
                auth:
                  silly:
                    realm: \(realm)
                    service: test-registry

                """
        }
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try launch("/usr/bin/docker-registry", ["serve", config], waitFor: port, log: scratch.file("registry-\(port).log"))
    }

    private func launch(_ executable: String, _ arguments: [String], waitFor port: Int, log: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        if let log {
            FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        processes.append(process)
        for _ in 0..<500 {
            if canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw ServerError("\(executable) did not start on port \(port)")
    }

    /// A front (Tests/Support/redirect_proxy.py) on the authenticated instance that redirects
    /// every blob download to another origin serving it without auth; returns the front's port
    /// and the log of the blob requests (whether each carried an Authorization header).
    func startRedirectingFront() throws -> (port: Int, log: String) {
        let front = try freePort(), blobs = try freePort()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/redirect_proxy.py").path
        let log = scratch.file("blobs.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        try launch(try python(), [script, String(front), String(blobs), "127.0.0.1:\(authenticatedPort ?? port)", "127.0.0.1:\(port)", log], waitFor: front)
        return (front, log)
    }

    /// The interpreter itself, not a shim that forks it: the pid must be the server's.
    private func python() throws -> String {
        try run("/usr/bin/env", ["python3", "-c", "import sys; print(sys.executable)"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Pushes `source` (skopeo syntax) to NAME:TAG on the open instance.
    func push(_ source: String, as name: String, all: Bool = false) throws {
        let pushed = try run("/usr/bin/env", ["skopeo", "copy"] + (all ? ["--all"] : []) + ["--dest-tls-verify=false", source, "docker://127.0.0.1:\(port)/\(name)"])
        guard pushed.succeeded else { throw ServerError("skopeo could not push \(source): \(pushed.stderr)") }
    }

    deinit {
        // Killed and polled, not waitUntilExit: with several children, Foundation's wait can
        // miss an exit that was reaped while it was not looking and never return.
        for process in processes { kill(process.processIdentifier, SIGKILL) }
        for process in processes {
            for _ in 0..<250 where process.isRunning { Thread.sleep(forTimeInterval: 0.02) }
        }
    }
}
