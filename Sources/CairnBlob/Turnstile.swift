/// Lets concurrent tasks run one step each in sequence order (0, 1, 2, …) without blocking a
/// thread: a task awaits its turn, does its ordered step, then passes the turn on.
actor Turnstile {
    private var current = 0
    private var waiting: [Int: CheckedContinuation<Void, Never>] = [:]

    func wait(for turn: Int) async {
        if turn == current { return }
        await withCheckedContinuation { waiting[turn] = $0 }
    }

    func pass() {
        current += 1
        waiting.removeValue(forKey: current)?.resume()
    }
}
