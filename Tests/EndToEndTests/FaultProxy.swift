import Foundation

/// `Tests/Support/fault_proxy.py` in front of a server, for one test: it forwards requests
/// unchanged and injects the faults it is told to (resets, 500/503, truncated or corrupt bodies,
/// stalls) on the first requests of each URL, or on all of them.
final class FaultProxy {
    let port: Int
    private let process = Process()

    var url: String { "http://127.0.0.1:\(port)" }
    var endpoint: String { "127.0.0.1:\(port)" }

    /// - Parameter options: the proxy's flags, e.g. `["--faults", "reset,500", "--fail-first", "2"]`.
    init(upstream: String, _ options: [String]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/fault_proxy.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--port", "0", "--upstream", upstream] + options
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The proxy prints "listening on PORT" once it accepts connections.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            guard !more.isEmpty else { throw ServerError("the fault proxy exited before listening") }
            line.append(more)
        }
        guard let port = String(decoding: line, as: UTF8.self).split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else { throw ServerError("the fault proxy said \(String(decoding: line, as: UTF8.self))") }
        self.port = port
    }

    /// How many faults of each kind the proxy injected so far.
    func injected() throws -> [String: Int] { try status()["faults"] as? [String: Int] ?? [:] }

    /// Requests the proxy saw, faulted or forwarded.
    func requests() throws -> Int { try status()["requests"] as? Int ?? -1 }

    private func status() throws -> [String: Any] {
        let answer = try run("curl", ["-s", "\(url)/__faults__"]).stdout
        return try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any] ?? [:]
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
