import FoundationEssentials

/// Civil UTC dates to and from seconds since the epoch (Howard Hinnant's days-from-civil
/// algorithms), without C's `tm`, whose module changes with the include order of C headers.
public enum UTCTime {
    struct Components: Equatable {
        var year, month, day, hour, minute, second: Int
    }

    static func components(ofEpochSeconds seconds: Int) -> Components {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return Components(
            year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day,
            hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60, second: secondOfDay % 60)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since the epoch of an S3 timestamp: ISO 8601 as listings write it
    /// (`2026-11-22T19:40:00.000Z`) or an HTTP date as headers do (`Sun, 22 Nov 2026 19:40:00 GMT`).
    public static func epochSeconds(parsing text: String) -> Int? {
        let fields = text.split(whereSeparator: { !$0.isNumber && !$0.isLetter })
        if let monthField = fields.firstIndex(where: { months.contains(String($0)) }) {
            let numbers = fields[(monthField + 1)...].compactMap { Int($0) }
            guard monthField >= 1, let day = Int(fields[monthField - 1]), numbers.count >= 4,
                let month = months.firstIndex(of: String(fields[monthField]))
            else { return nil }
            return epochSeconds(of: Components(year: numbers[0], month: month + 1, day: day, hour: numbers[1], minute: numbers[2], second: numbers[3]))
        }
        let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count >= 6 else { return nil }
        return epochSeconds(of: Components(year: numbers[0], month: numbers[1], day: numbers[2], hour: numbers[3], minute: numbers[4], second: numbers[5]))
    }

    /// `2026-11-22T19:40:00Z`, as manifests and refs record times.
    public static func iso8601(epochSeconds seconds: Int) -> String {
        let c = components(ofEpochSeconds: seconds)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }

    /// Seconds since the epoch now.
    public static func now() -> Int { Int(Date().timeIntervalSince1970) }

    static func epochSeconds(of c: Components) -> Int {
        let year = c.month <= 2 ? c.year - 1 : c.year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (c.month > 2 ? c.month - 3 : c.month + 9) + 2) / 5 + c.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86400 + c.hour * 3600 + c.minute * 60 + c.second
    }
}
