import Synchronization

/// Hands out job numbers 0..<count to concurrent workers, each number once.
public final class WorkCounter: Sendable {
    public let count: Int
    private let next = Atomic<Int>(0)

    public init(count: Int) { self.count = count }

    public func take() -> Int? {
        let number = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return number < count ? number : nil
    }
}
