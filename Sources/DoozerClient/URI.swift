import DoozerSystem

/// A parsed `doozer:` URI (spec §9.1): `doozer:?` followed by a form-urlencoded query whose
/// keys may repeat. A plain value; parsing never touches the network.
public struct DoozerURI: Equatable, Sendable {
    /// Default client port, applied to `ca` values that name none (B21).
    public static let defaultPort = 8046

    /// `ca` values as `host:port`, in the order given.
    public var addresses: [String]
    /// The first non-empty `cn` value.
    public var clusterName: String?
    /// The first `sk` value, as bytes after percent-decoding.
    public var secret: [UInt8]?
    /// `tls=1` (or `true`): connect with TLS (an extension; the original's client had none).
    public var tls = false

    public init(addresses: [String] = [], clusterName: String? = nil, secret: [UInt8]? = nil, tls: Bool = false) {
        self.addresses = addresses
        self.clusterName = clusterName
        self.secret = secret
        self.tls = tls
    }

    /// Parses `text`. Throws `.invalidURI` unless it starts with exactly `doozer:?`, its query
    /// decodes, and it names at least one `ca` or a `cn`. Unknown keys (and `un`) are ignored.
    public init(parsing text: String) throws(DoozerError) {
        let prefix = "doozer:?"
        guard text.hasPrefix(prefix) else { throw .invalidURI }
        let query = text.utf8.dropFirst(prefix.utf8.count)
        var addresses: [String] = []
        var clusterName: String?
        var secret: [UInt8]?
        var tls = false
        for pair in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let key: [UInt8]
            let value: [UInt8]
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                key = try DoozerURI.formDecode(pair[pair.startIndex..<equals])
                value = try DoozerURI.formDecode(pair[pair.index(after: equals)...])
            } else {
                key = try DoozerURI.formDecode(pair[...])
                value = []
            }
            switch String(decoding: key, as: UTF8.self) {
            case "ca":
                if !value.isEmpty { addresses.append(DoozerURI.withDefaultPort(String(decoding: value, as: UTF8.self))) }
            case "cn":
                if clusterName == nil, !value.isEmpty { clusterName = String(decoding: value, as: UTF8.self) }
            case "sk":
                if secret == nil { secret = value }
            case "tls":
                switch String(decoding: value, as: UTF8.self) {
                case "1", "true": tls = true
                case "0", "false", "": tls = false
                default: throw .invalidURI
                }
            default:
                break
            }
        }
        guard !addresses.isEmpty || clusterName != nil else { throw .invalidURI }
        self.init(addresses: addresses, clusterName: clusterName, secret: secret, tls: tls)
    }

    /// `host` → `host:8046`, `[v6]` → `[v6]:8046`, bare `v6::addr` → `[v6::addr]:8046`,
    /// `host:` → `host:8046`; anything with a port is returned unchanged.
    static func withDefaultPort(_ address: String) -> String {
        if address.hasPrefix("[") {
            if address.hasSuffix("]") { return "\(address):\(defaultPort)" }
            if address.hasSuffix("]:") { return "\(address)\(defaultPort)" }
            return address
        }
        let colons = address.filter { $0 == ":" }.count
        if colons == 0 { return "\(address):\(defaultPort)" }
        if colons > 1 { return "[\(address)]:\(defaultPort)" }
        if address.hasSuffix(":") { return "\(address)\(defaultPort)" }
        return address
    }

    /// application/x-www-form-urlencoded decoding: `+` is a space, `%XY` a byte.
    static func formDecode(_ input: Substring.UTF8View.SubSequence) throws(DoozerError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = input.startIndex
        while index < input.endIndex {
            let byte = input[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let first = input.index(after: index)
                guard first < input.endIndex else { throw .invalidURI }
                let second = input.index(after: first)
                guard second < input.endIndex,
                      let high = Hex.value(input[first]), let low = Hex.value(input[second]) else { throw .invalidURI }
                output.append(high << 4 | low)
                index = second
            } else {
                output.append(byte)
            }
            index = input.index(after: index)
        }
        return output
    }
}
