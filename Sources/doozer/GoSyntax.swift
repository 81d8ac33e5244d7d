// Go's number and duration spellings, as the original CLI accepted them: strconv.ParseInt for the
// <rev> arguments, flag-style integers for -r and time.ParseDuration for -t.

enum GoSyntax {
    /// strconv.ParseInt(text, 10, 64): optional sign, decimal digits. The error text is Go's.
    static func parseInt64(_ text: String) -> Result<Int64, LocalError> {
        guard let value = integer(text, allowPrefixes: false) else {
            return .failure(LocalError("strconv.ParseInt: parsing \(quote(text)): invalid syntax"))
        }
        guard let value else {
            return .failure(LocalError("strconv.ParseInt: parsing \(quote(text)): value out of range"))
        }
        return .success(value)
    }

    /// An integer flag value (strconv.ParseInt(text, 0, 64)): decimal, or 0x/0o/0b/0 prefixed.
    /// nil = syntax error; .some(nil) = out of range.
    static func flagInt64(_ text: String) -> Int64?? { integer(text, allowPrefixes: true) }

    /// nil = syntax error, .some(nil) = out of range.
    private static func integer(_ text: String, allowPrefixes: Bool) -> Int64?? {
        var scalars = Substring(text)
        var negative = false
        if let first = scalars.first, first == "+" || first == "-" {
            negative = first == "-"
            scalars = scalars.dropFirst()
        }
        var radix: UInt64 = 10
        if allowPrefixes, scalars.count > 1, scalars.first == "0" {
            let second = scalars.dropFirst().first!
            switch second {
            case "x", "X": radix = 16; scalars = scalars.dropFirst(2)
            case "o", "O": radix = 8; scalars = scalars.dropFirst(2)
            case "b", "B": radix = 2; scalars = scalars.dropFirst(2)
            default: radix = 8; scalars = scalars.dropFirst()
            }
        }
        guard !scalars.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        var overflow = false
        for character in scalars {
            guard character.isASCII, let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
            let (shifted, o1) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, o2) = shifted.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { overflow = true }
            magnitude = sum
        }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        if overflow || magnitude > limit { return .some(nil) }
        if negative { return magnitude == limit ? Int64.min : -Int64(magnitude) }
        return Int64(magnitude)
    }

    /// time.ParseDuration: a possibly signed sequence of decimal numbers, each with an optional
    /// fraction and a unit (ns, us, µs, μs, ms, s, m, h), e.g. "300ms", "-1.5h", "2h45m"; "0" alone.
    /// Returns nanoseconds, or Go's error text.
    static func parseDuration(_ text: String) -> Result<Int64, LocalError> {
        let invalid = LocalError("time: invalid duration \(quote(text))")
        var rest = Substring(text)
        var negative = false
        if let first = rest.first, first == "+" || first == "-" {
            negative = first == "-"
            rest = rest.dropFirst()
        }
        if rest == "0" { return .success(0) }
        if rest.isEmpty { return .failure(invalid) }
        var total: UInt64 = 0
        while !rest.isEmpty {
            let whole = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(whole.count)
            var fraction = Substring("")
            if rest.first == "." {
                rest = rest.dropFirst()
                fraction = rest.prefix(while: { $0.isASCII && $0.isNumber })
                rest = rest.dropFirst(fraction.count)
            }
            if whole.isEmpty && fraction.isEmpty { return .failure(invalid) }
            let unitText = rest.prefix(while: { $0 != "." && !($0.isASCII && $0.isNumber) })
            rest = rest.dropFirst(unitText.count)
            if unitText.isEmpty {
                return .failure(LocalError("time: missing unit in duration \(quote(text))"))
            }
            guard let unit = units[String(unitText)] else {
                return .failure(LocalError("time: unknown unit \(quote(String(unitText))) in duration \(quote(text))"))
            }
            guard let wholeValue = UInt64(whole.isEmpty ? "0" : whole) else { return .failure(invalid) }
            let (scaled, o1) = wholeValue.multipliedReportingOverflow(by: unit)
            var part = scaled
            if !fraction.isEmpty {
                var scale = 1.0
                var digits: UInt64 = 0
                for digit in fraction.prefix(18) {
                    digits = digits * 10 + UInt64(digit.wholeNumberValue!)
                    scale *= 10
                }
                let extra = Double(digits) * (Double(unit) / scale)
                guard extra < Double(UInt64.max) else { return .failure(invalid) }
                let (withFraction, o3) = part.addingReportingOverflow(UInt64(extra))
                if o3 { return .failure(invalid) }
                part = withFraction
            }
            let (sum, o2) = total.addingReportingOverflow(part)
            if o1 || o2 { return .failure(invalid) }
            total = sum
        }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        if total > limit { return .failure(invalid) }
        if negative { return .success(total == limit ? Int64.min : -Int64(total)) }
        return .success(Int64(total))
    }

    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1_000, "\u{00B5}s": 1_000, "\u{03BC}s": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// Go's %q for the ASCII strings that matter here (quotes and backslashes escaped).
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A failure found by the CLI itself (not the client library): its text follows "Error: ".
struct LocalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
