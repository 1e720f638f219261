/// One gate's verdict on a build: passed or not, with a sentence per finding (each naming the
/// path, module or object at fault).
public struct GateResult: Codable, Sendable, Equatable {
    public var gate: String
    public var passed: Bool
    public var details: [String]

    public init(gate: String, passed: Bool, details: [String]) { (self.gate, self.passed, self.details) = (gate, passed, details) }

    /// A gate that could not read what it needs fails: promotion fails closed.
    static func unreadable(_ gate: String, _ error: any Error) -> GateResult {
        GateResult(gate: gate, passed: false, details: ["could not be evaluated: \(error)"])
    }
}
