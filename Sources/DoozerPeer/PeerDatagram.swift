import DoozerConsensus
import DoozerReactor
import DoozerSystem

/// The peer datagram, version 2: a fixed header, then items, each framed by `DatagramChannel`
/// (a 4-byte big-endian length, then the item). The header's and items' integers are
/// little-endian, as in `PeerCodec`.
///
///     datagram = header item*
///     header   = "DZP" version:u8 = 2   cluster:u64   sender:u64   crc32c:u32   (24 bytes)
///     item     = 1 message crc32c:u32                       one whole message (PeerCodec)
///              | 2 id:u32 index:u16 count:u16 total:u32 bytes   one fragment of a message
///              | 3 code:u8                                  control; code 1 = "not a member"
///
/// The header carries the CRC32C of its first 20 bytes, and a message the CRC32C of its encoding
/// after it (fragments carry pieces of both, and the check runs once the message is whole):
/// UDP's 16-bit checksum is all that protects a datagram on the way, too little for a decided
/// batch — and a flipped bit in a sender id must not read as a stranger (a stranger is told it
/// is not a member). Version 1 had no checksums.
///
/// Version 3 is version 2 sealed with the cluster's peer key (`PeerKeys`, `-peerkey`): the same
/// header (version byte 3) and items, then a trailer:
///
///     trailer  = counter:u64   mac:16 bytes     (24 bytes)
///
/// where `mac` is HMAC-SHA256, cut to 16 bytes, of everything before it, and `counter` grows
/// with every datagram and record the sender seals, so a receiver refuses one it saw before
/// (`ReplayWindow`). A node with a key accepts only version 3, one without only version 2.
///
/// A stream record, the value of a `Verb.peer` request on a peer's TCP stream to this node's
/// client port (messages too large for one datagram), is a header and at most one item, not
/// framed (the request frames it); the header alone opens the stream:
///
///     record   = header [1 message] [trailer]      (the trailer when keyed)
///
/// A message of `total` bytes sent in `count` fragments (2 ≤ count) is cut into pieces of
/// `ceil(total / count)` bytes, the last one shorter: `fragmentRange` is that rule, shared by
/// sender and receiver, so a fragment's length is checked exactly rather than trusted.
/// Public only as the `Fuzzing` SPI, for DoozerFuzz's datagram target.
@_spi(Fuzzing) public enum PeerDatagram {
    static let magic: (UInt8, UInt8, UInt8) = (0x44, 0x5A, 0x50)   // "DZP"
    static let version: UInt8 = 2
    /// The version of datagrams and records sealed with a peer key.
    static let keyedVersion: UInt8 = 3
    /// A sealed datagram's or record's trailer: counter and truncated MAC.
    @_spi(Fuzzing) public static let trailerSize = 24
    static let macSize = 16
    /// The CRC32C after each message.
    static let checksumSize = 4
    @_spi(Fuzzing) public static let headerSize = 24
    /// A fragment item's bytes before its piece of the message: kind, id, index, count, total.
    @_spi(Fuzzing) public static let fragmentHeaderSize = 13
    /// What `DatagramChannel` puts before each item: its length.
    static let framingSize = 4

    @_spi(Fuzzing) public enum Kind: UInt8 {
        case message = 1
        case fragment = 2
        case control = 3
    }

    enum Control: UInt8 {
        case notMember = 1
    }

    @_spi(Fuzzing) public static let notMemberItem: [UInt8] = [Kind.control.rawValue, Control.notMember.rawValue]

    @_spi(Fuzzing) public struct Header: Equatable {
        var cluster: UInt64
        @_spi(Fuzzing) public var sender: PeerID
        /// Version 3: sealed with a peer key, a trailer at the end.
        @_spi(Fuzzing) public var keyed: Bool

        /// The header of `datagram`, or nil when it is shorter than a header, has another
        /// magic or version, or fails its checksum.
        @_spi(Fuzzing) public init?(parsing datagram: UnsafeRawBufferPointer) {
            guard datagram.count >= PeerDatagram.headerSize,
                  datagram[0] == magic.0, datagram[1] == magic.1, datagram[2] == magic.2,
                  datagram[3] == version || datagram[3] == keyedVersion,
                  CRC32C.checksum(UnsafeRawBufferPointer(rebasing: datagram[..<20])) == datagram.littleEndian(UInt32.self, at: 20)
            else { return nil }
            cluster = datagram.littleEndian(UInt64.self, at: 4)
            sender = PeerID(raw: datagram.littleEndian(UInt64.self, at: 12))
            keyed = datagram[3] == keyedVersion
        }

        @_spi(Fuzzing) public init(cluster: UInt64, sender: PeerID, keyed: Bool = false) {
            self.cluster = cluster
            self.sender = sender
            self.keyed = keyed
        }

        @_spi(Fuzzing) public var bytes: [UInt8] {
            var out: [UInt8] = [magic.0, magic.1, magic.2, keyed ? keyedVersion : version]
            out.appendLittleEndian(cluster)
            out.appendLittleEndian(sender.raw)
            out.appendLittleEndian(CRC32C.checksum(out))
            return out
        }
    }

    /// A fragment item, its piece still in the datagram.
    @_spi(Fuzzing) public struct Fragment {
        var id: UInt32
        var index: Int
        var count: Int
        @_spi(Fuzzing) public var total: Int
        var piece: UnsafeRawBufferPointer

        /// The fragment in `item` (whose kind byte is `.fragment`), or nil when the item is
        /// shorter than a fragment's header. Nothing else is checked here.
        @_spi(Fuzzing) public init?(parsing item: UnsafeRawBufferPointer) {
            guard item.count >= PeerDatagram.fragmentHeaderSize else { return nil }
            id = item.littleEndian(UInt32.self, at: 1)
            index = Int(item.littleEndian(UInt16.self, at: 5))
            count = Int(item.littleEndian(UInt16.self, at: 7))
            total = Int(item.littleEndian(UInt32.self, at: 9))
            piece = UnsafeRawBufferPointer(rebasing: item[PeerDatagram.fragmentHeaderSize...])
        }

        /// Writes a fragment item's header into the first `fragmentHeaderSize` bytes of `out`.
        @_spi(Fuzzing) public static func writeHeader(id: UInt32, index: Int, count: Int, total: Int, into out: UnsafeMutableRawBufferPointer) {
            out[0] = Kind.fragment.rawValue
            out.storeBytes(of: id.littleEndian, toByteOffset: 1, as: UInt32.self)
            out.storeBytes(of: UInt16(index).littleEndian, toByteOffset: 5, as: UInt16.self)
            out.storeBytes(of: UInt16(count).littleEndian, toByteOffset: 7, as: UInt16.self)
            out.storeBytes(of: UInt32(total).littleEndian, toByteOffset: 9, as: UInt32.self)
        }
    }

    /// The bytes of a `total`-byte message that fragment `index` of `count` carries, or nil
    /// when that split is impossible (count below 2, index out of range, or an empty piece).
    @_spi(Fuzzing) public static func fragmentRange(index: Int, count: Int, total: Int) -> Range<Int>? {
        guard count >= 2, index >= 0, index < count else { return nil }
        let piece = (total + count - 1) / count
        let start = index * piece
        // Every piece is non-empty exactly when the last one is.
        guard (count - 1) * piece < total else { return nil }
        return start ..< min(total, start + piece)
    }

    /// How many fragments carry a `total`-byte message when each holds at most `maxPiece`.
    static func fragmentCount(total: Int, maxPiece: Int) -> Int {
        (total + maxPiece - 1) / maxPiece
    }

    /// Whether `datagram` (framed after its header) carries a control item: such a datagram
    /// never draws a notice, so two nodes that each dropped the other do not answer each
    /// other's notices for ever.
    static func carriesControl(_ datagram: UnsafeRawBufferPointer) -> Bool {
        var found = false
        _ = DatagramChannel.forEachMessage(in: datagram, headerSize: headerSize) { item in
            if item.first == Kind.control.rawValue { found = true }
        }
        return found
    }
}

extension UnsafeRawBufferPointer {
    func littleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension [UInt8] {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
