import Synchronization

/// Counters an engine bumps as it works and a progress display reads; lock-free.
public final class ProgressCounter: Sendable {
    private let done = Atomic<Int>(0)
    private let total = Atomic<Int>(0)

    public init() {}

    public var completed: Int { done.load(ordering: .relaxed) }
    public var expected: Int { total.load(ordering: .relaxed) }

    public func setExpected(_ bytes: Int) { total.store(bytes, ordering: .relaxed) }
    public func add(_ bytes: Int) { done.add(bytes, ordering: .relaxed) }
}
