
/// Just enough XML for S3's responses (ListObjectsV2, DeleteObjects, errors): the text of
/// elements by name, in document order. S3 bodies are flat, machine-written and entity-escaped.
enum S3XML {
    /// The contents of every `<name>…</name>` in `xml`.
    static func elements(_ name: String, in xml: Substring) -> [Substring] {
        var found = [Substring]()
        let open = "<\(name)>", close = "</\(name)>"
        var rest = xml
        while let start = rest.firstRange(of: open), let end = rest[start.upperBound...].firstRange(of: close) {
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func text(_ name: String, in xml: Substring) -> String? {
        elements(name, in: xml).first.map { unescape($0) }
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        return String(text).replacing("&lt;", with: "<").replacing("&gt;", with: ">")
            .replacing("&quot;", with: "\"").replacing("&apos;", with: "'")
            .replacing("&amp;", with: "&")
    }

    static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;")
            .replacing(">", with: "&gt;")
    }
}
