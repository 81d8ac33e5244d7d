import DoozerSystem
import DoozerTLS

/// The cluster's peer keys (`-peerkey`): the first authenticates what this node sends, any of
/// them what it receives, so a rotation can run with two. Each keeps its own HMAC context.
/// Never logs or shows a key. Not thread-safe (the transport's loop uses it).
public final class PeerKeys {
    /// Bytes of a key, at least (a shorter one is refused): 16.
    public static let minimumKeySize = 16
    /// At most two keys: the one in use and the one being rotated in or out.
    public static let maximumKeys = 2

    let signing: HMACSHA256
    let verifying: [HMACSHA256]

    public init(keys: [[UInt8]]) throws(PeerKeyError) {
        guard !keys.isEmpty, keys.count <= Self.maximumKeys else { throw PeerKeyError("a peer key file holds one or two keys, not \(keys.count)") }
        var macs: [HMACSHA256] = []
        for key in keys {
            guard key.count >= Self.minimumKeySize else { throw PeerKeyError("a peer key must have at least \(Self.minimumKeySize) bytes (\(2 * Self.minimumKeySize) hex digits)") }
            guard let mac = HMACSHA256(key: key) else { throw PeerKeyError("HMAC-SHA256 is not available") }
            macs.append(mac)
        }
        signing = macs[0]
        verifying = macs
    }

    /// The keys in a key file: one per line in hex (blank lines and `#` comments skipped),
    /// the first the one this node sends with.
    public static func parse(_ text: String) throws(PeerKeyError) -> PeerKeys {
        var keys: [[UInt8]] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let key = Hex.bytes(line.utf8) else { throw PeerKeyError("a peer key line is not hex digits") }
            keys.append(key)
        }
        return try PeerKeys(keys: keys)
    }

    /// Writes the trailer of `body` (everything before the trailer) into `trailer`
    /// (`PeerDatagram.trailerSize` bytes): `counter`, then the truncated MAC of body and counter.
    func seal(_ body: UnsafeRawBufferPointer..., counter: UInt64, into trailer: UnsafeMutableRawBufferPointer) {
        trailer.storeBytes(of: counter.littleEndian, toByteOffset: 0, as: UInt64.self)
        withUnsafeTemporaryAllocation(byteCount: HMACSHA256.size, alignment: 8) { mac in
            let counterBytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(trailer)[0..<8])
            switch body.count {
            case 1: signing.authenticate(body[0], counterBytes, into: mac)
            case 2: signing.authenticate(body[0], body[1], counterBytes, into: mac)
            default: preconditionFailure("a sealed body is one or two pieces")
            }
            UnsafeMutableRawBufferPointer(rebasing: trailer[8..<PeerDatagram.trailerSize])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(mac)[..<PeerDatagram.macSize]))
        }
    }

    /// The counter of `sealed` (body then trailer) when one of the keys made its MAC; nil otherwise.
    func open(_ sealed: UnsafeRawBufferPointer) -> UInt64? {
        guard sealed.count >= PeerDatagram.trailerSize else { return nil }
        let macStart = sealed.count - PeerDatagram.macSize
        let signed = UnsafeRawBufferPointer(rebasing: sealed[..<macStart])
        let received = UnsafeRawBufferPointer(rebasing: sealed[macStart...])
        return withUnsafeTemporaryAllocation(byteCount: HMACSHA256.size, alignment: 8) { mac -> UInt64? in
            for key in verifying {
                key.authenticate(signed, into: mac)
                if ConstantTime.equal(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(mac)[..<PeerDatagram.macSize]), received) {
                    return sealed.littleEndian(UInt64.self, at: sealed.count - PeerDatagram.trailerSize)
                }
            }
            return nil
        }
    }
}

/// Why a peer key could not be used; says nothing of the key itself.
public struct PeerKeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The counters a sender's authenticated datagrams (or stream records) carried lately: the
/// highest, and which of the 64 below it arrived. A counter seen before, or more than 64 below
/// the highest, is a replay (or too late to tell apart from one).
struct ReplayWindow {
    private var highest: UInt64 = 0
    private var seen: UInt64 = 0   // bit i: highest - i arrived

    /// Records `counter` and says whether it is new.
    mutating func accept(_ counter: UInt64) -> Bool {
        if counter > highest {
            let shift = counter - highest
            seen = shift >= 64 ? 1 : (seen << shift) | 1
            highest = counter
            return true
        }
        let age = highest - counter
        guard age < 64 else { return false }
        let bit: UInt64 = 1 << age
        guard seen & bit == 0 else { return false }
        seen |= bit
        return true
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
