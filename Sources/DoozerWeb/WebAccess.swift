import DoozerSystem

/// Who may read through the web view. It applies the client port's rule (§2.8): a secret
/// grants read when it equals the read-write or the read-only secret, every request presents
/// the empty secret, and whatever else it presents — the password of HTTP Basic credentials
/// (any user name) or a `token` query parameter — can only add rights, never take them away,
/// just as a failed ACCESS leaves a connection's rights alone. So with no secrets (or only the
/// read-write one) everyone reads, a wrong token is answered like no token, and with both
/// secrets set a request must present one of them. Pure: owns no state.
public enum WebAccess {
    /// Whether `request` may read the tree.
    public static func readAllowed(_ request: HTTPRequestHead, readWrite: [UInt8], readOnly: [UInt8]) -> Bool {
        if grantsRead([], readWrite: readWrite, readOnly: readOnly) { return true }
        if let authorization = request.header("authorization"), let password = basicPassword(authorization),
           grantsRead(password, readWrite: readWrite, readOnly: readOnly) {
            return true
        }
        if let token = request.queryParameter("token"), grantsRead(token, readWrite: readWrite, readOnly: readOnly) {
            return true
        }
        return false
    }

    /// The §2.8 rule for one secret. Compares in time independent of where the bytes differ.
    public static func grantsRead(_ secret: [UInt8], readWrite: [UInt8], readOnly: [UInt8]) -> Bool {
        ConstantTime.equal(secret, readWrite) || ConstantTime.equal(secret, readOnly)
    }

    /// The password of `Basic <base64(user:password)>` credentials; nil when malformed.
    static func basicPassword(_ value: [UInt8]) -> [UInt8]? {
        guard value.count > 6, value[0..<6].map({ $0 | 0x20 }) == Array("basic ".utf8) else { return nil }
        var encoded = value[6...]
        while encoded.first == 0x20 { encoded = encoded.dropFirst() }
        guard let decoded = base64Decode(encoded), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return Array(decoded[(colon + 1)...])
    }

    /// Standard base64 with padding; nil for anything else.
    static func base64Decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(text)
        guard bytes.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 3)
        var index = 0
        while index < bytes.count {
            var quad: UInt32 = 0
            var padding = 0
            for k in 0..<4 {
                let c = bytes[index + k]
                let v: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): v = 62
                case UInt8(ascii: "/"): v = 63
                case UInt8(ascii: "="):
                    // Padding only in the last quad's last one or two places.
                    guard index + 4 == bytes.count, k >= 2 else { return nil }
                    padding += 1
                    v = 0
                default: return nil
                }
                if padding > 0 && c != UInt8(ascii: "=") { return nil }
                quad = quad << 6 | v
            }
            out.append(UInt8(truncatingIfNeeded: quad >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: quad >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: quad)) }
            index += 4
        }
        return out
    }
}
