import CairnBlob
import FoundationEssentials

/// Shows an engine's progress on stderr: bytes done, rate and ETA.
final class ProgressDisplay: Sendable {
    private let counter: ProgressCounter
    private let task: Task<Void, Never>?
    private let live: Bool

    enum Unit { case bytes, chunks }

    init(_ counter: ProgressCounter, mode: ProgressMode, label: String, unit: Unit = .bytes) {
        self.counter = counter
        let live = mode == .auto && ProcessEnvironment.stderrIsTerminal
        self.live = live
        guard live || mode == .plain else {
            task = nil
            return
        }
        task = Task {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: live ? .milliseconds(200) : .seconds(1))
                if Task.isCancelled { break }
                let line = Self.line(label: label, counter: counter, unit: unit, elapsed: ContinuousClock.now - start)
                ProcessEnvironment.writeError(live ? "\r\(line)\u{1B}[K" : line + "\n")
            }
        }
    }

    /// Stops drawing and clears the live line.
    func finish() {
        task?.cancel()
        if live { ProcessEnvironment.writeError("\r\u{1B}[K") }
    }

    static func line(label: String, counter: ProgressCounter, unit: Unit, elapsed: Duration) -> String {
        let done = counter.completed, total = counter.expected
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done) / seconds : 0
        func format(_ amount: Int) -> String { unit == .bytes ? ByteCount.format(UInt64(amount)) : "\(amount) chunks" }
        var line = "\(label) \(format(done))"
        if total > 0 {
            line += " / \(format(total)) (\(Int(Double(done) * 100 / Double(total)))%)"
        }
        line += " \(format(Int(rate)))/s"
        if total > 0, rate > 0, done < total {
            line += " ETA \(Int((Double(total - done) / rate).rounded(.up)))s"
        }
        return line
    }
}

enum ByteCount {
    static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\((value * 10).rounded() / 10) \(units[unit])"
    }
}
