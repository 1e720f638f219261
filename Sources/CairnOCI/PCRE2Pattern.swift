import CPCRE2

/// A compiled PCRE2 pattern (JIT where the CPU allows) with its own match data: one thread at a
/// time. SELinux file_contexts are PCRE2 patterns; libselinux compiles them with this library,
/// with DOTALL (`.` matches a newline in a file name too, as in composefs-rs's matcher).
final class PCRE2Pattern {
    private let code: OpaquePointer
    private let matchData: OpaquePointer

    /// Throws PCRE2's message and the offset it points at when `pattern` does not compile.
    init(_ pattern: [UInt8]) throws(PatternError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        guard let code = pattern.withUnsafeBufferPointer({ pcre2_compile_8($0.baseAddress, $0.count, UInt32(PCRE2_DOTALL), &errorCode, &errorOffset, nil) }) else {
            throw PatternError(code: errorCode, offset: errorOffset)
        }
        // Without JIT (some CPUs, hardened kernels) the interpreter gives the same answers.
        _ = pcre2_jit_compile_8(code, UInt32(PCRE2_JIT_COMPLETE | PCRE2_JIT_PARTIAL_HARD))
        guard let matchData = pcre2_match_data_create_from_pattern_8(code, nil) else {
            pcre2_code_free_8(code)
            throw PatternError(code: PCRE2_ERROR_NOMEMORY, offset: 0)
        }
        (self.code, self.matchData) = (code, matchData)
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_code_free_8(code)
    }

    struct PatternError: Error {
        var message: String
        var offset: Int

        /// PCRE2's message for an error code.
        init(code: Int32, offset: Int) {
            var message = [UInt8](repeating: 0, count: 256)
            let length = pcre2_get_error_message_8(code, &message, message.count)
            (self.message, self.offset) = (String(decoding: message.prefix(max(0, Int(length))), as: UTF8.self), offset)
        }
    }

    /// Whether the pattern matches `subject` (anchoring is the pattern's business).
    func matches(_ subject: [UInt8]) throws(PatternError) -> Bool {
        try match(subject, options: 0) >= 0
    }

    /// Whether `subject` matches, or could be extended into something that does.
    func mayMatch(startingWith subject: [UInt8]) throws(PatternError) -> Bool {
        let result = try match(subject, options: UInt32(PCRE2_PARTIAL_HARD))
        return result >= 0 || result == PCRE2_ERROR_PARTIAL
    }

    /// pcre2_match's result: a match (>= 0), no match, or a partial one; anything else (a
    /// match or JIT stack limit reached) is an error, never taken for "no match".
    private func match(_ subject: [UInt8], options: UInt32) throws(PatternError) -> Int32 {
        let result = subject.withUnsafeBufferPointer { pcre2_match_8(code, $0.baseAddress, $0.count, 0, options, matchData, nil) }
        guard result >= 0 || result == PCRE2_ERROR_NOMATCH || result == PCRE2_ERROR_PARTIAL else { throw PatternError(code: result, offset: 0) }
        return result
    }
}
