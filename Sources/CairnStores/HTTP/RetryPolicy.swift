/// When and how long to wait before trying a request again: exponential backoff with full jitter,
/// for transient failures only.
public struct RetryPolicy: Sendable {
    /// Tries in all, the first included.
    public var attempts: Int
    public var baseDelay: Duration
    public var maximumDelay: Duration

    public init(attempts: Int = 5, baseDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5)) {
        (self.attempts, self.baseDelay, self.maximumDelay) = (attempts, baseDelay, maximumDelay)
    }

    /// A random wait in [0, min(maximum, base · 2^(attempt−1))] after failed attempt `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Duration {
        let ceiling = min(maximumDelay, baseDelay * (1 << min(attempt - 1, 20)))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(nanoseconds, 0)))
    }
}
