/// `transform` applied to every element with at most `width` calls in flight; results in order.
package func mapConcurrently<T: Sendable, R: Sendable>(
    _ items: [T], width: Int, _ transform: @escaping @Sendable (T) async throws -> R
) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        func submit() {
            let (number, item) = (next, items[next])
            group.addTask { (number, try await transform(item)) }
            next += 1
        }
        while next < min(max(width, 1), items.count) { submit() }
        while let (number, result) = try await group.next() {
            results[number] = result
            if next < items.count { submit() }
        }
        return results.map { $0! }
    }
}
