import DoozerConsensus
@_spi(Fuzzing) import DoozerPeer
import DoozerReactor

/// `PeerCodec` over any bytes: a message (first byte even) or a bootstrap record (odd), the
/// rest being the encoding. Whatever decodes must survive encoding and decoding unchanged.
enum PeerCodecTarget {
    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        guard let mode = input.first else { return }
        let bytes = Array(input[1...])
        if mode & 1 == 0 {
            guard let message = try? PeerCodec.decode(bytes) else { return }
            let again: Message
            do { again = try PeerCodec.decode(PeerCodec.encode(message)) } catch {
                throw FuzzFailure("re-encoded \(message) does not decode: \(error)")
            }
            try expect(again == message, "\(message) decodes back as \(again)")
        } else {
            guard let bootstrap = try? PeerCodec.decodeBootstrap(bytes) else { return }
            let again: Bootstrap
            do { again = try PeerCodec.decodeBootstrap(PeerCodec.encode(bootstrap)) } catch {
                throw FuzzFailure("re-encoded \(bootstrap) does not decode: \(error)")
            }
            try expect(again == bootstrap, "\(bootstrap) decodes back as \(again)")
        }
    }

    static var seeds: [[UInt8]] {
        let a = PeerID(raw: 0x0123_4567_89AB_CDEF), b = PeerID(raw: 42)
        let ballot = Ballot(round: 3, leader: a)
        let batch = [Proposal(origin: a, seq: 1, tag: 7, payload: Array("1:/a=b".utf8)),
                     Proposal(origin: b, seq: 300, tag: 0, payload: [])]
        let messages: [Message] = [
            .prepare(ballot: ballot, from: 5),
            .promise(ballot: ballot, from: 5, decided: 4,
                     accepted: [AcceptedEntry(instance: 5, ballot: ballot, batch: batch)]),
            .accept(ballot: ballot, instance: 6, batch: batch, commit: 5),
            .entries(decided: 9, leader: b, [DecidedEntry(instance: 9, batch: batch)]),
            .tooOld(oldest: 2),
        ]
        let bootstrap = Bootstrap(instance: 12, schedule: [ScheduleEntry(from: 0, members: [a]),
                                                           ScheduleEntry(from: 10, members: [a, b])],
                                  watermarks: [a: 4, b: 1])
        return messages.map { [0] + PeerCodec.encode($0) } + [[1] + PeerCodec.encode(bootstrap)]
    }
}

/// Peer datagrams as the transport reads them after checking the sender: the header, the
/// framed items, whole messages and fragments, which go through a small reassembly table.
/// The table stays within its byte bound, and a reassembled message has the length its
/// fragments announced.
enum DatagramTarget {
    static let maxBytes = 4096

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        // One input may hold several datagrams, each preceded by a 2-byte little-endian length.
        var table = ReassemblyTable(maxPerSender: 3, maxBytes: maxBytes)
        var rest = input[...]
        while rest.count >= 2 {
            let length = Int(rest[rest.startIndex]) | Int(rest[rest.startIndex + 1]) << 8
            rest = rest.dropFirst(2)
            let datagram = UnsafeRawBufferPointer(rebasing: rest.prefix(length))
            rest = rest.dropFirst(length)
            try receive(datagram, into: &table)
        }
    }

    static func receive(_ datagram: UnsafeRawBufferPointer, into table: inout ReassemblyTable) throws(FuzzFailure) {
        guard let header = PeerDatagram.Header(parsing: datagram) else { return }
        var failure: FuzzFailure?
        _ = DatagramChannel.forEachMessage(in: datagram, headerSize: PeerDatagram.headerSize) { item in
            guard failure == nil else { return }
            do throws(FuzzFailure) { try accept(item, from: header.sender, into: &table) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    static func accept(_ item: UnsafeRawBufferPointer, from sender: PeerID,
                       into table: inout ReassemblyTable) throws(FuzzFailure) {
        switch item.first.flatMap(PeerDatagram.Kind.init(rawValue:)) {
        case .message:
            _ = try? PeerCodec.decode(UnsafeRawBufferPointer(rebasing: item[1...]))
        case .fragment:
            guard let fragment = PeerDatagram.Fragment(parsing: item), fragment.total <= maxBytes else { return }
            let outcome = table.add(fragment, from: sender)
            try expect(table.bytes >= 0 && table.bytes <= maxBytes, "reassembly holds \(table.bytes) bytes")
            if case .complete(let message) = outcome {
                try expect(message.count == fragment.total, "reassembled \(message.count) bytes of \(fragment.total)")
                _ = try? PeerCodec.decode(message)
            }
        case .control, nil:
            break
        }
    }

    static var seeds: [[UInt8]] {
        let header = PeerDatagram.Header(cluster: 7, sender: PeerID(raw: 9)).bytes
        let message = PeerCodec.encode(.commit(ballot: Ballot(round: 1, leader: PeerID(raw: 9)), upTo: 3))
        func framed(_ items: [[UInt8]]) -> [UInt8] {
            var datagram = header
            for item in items {
                let n = UInt32(item.count)
                datagram += [UInt8(n >> 24), UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8),
                             UInt8(truncatingIfNeeded: n)] + item
            }
            return [UInt8(truncatingIfNeeded: datagram.count), UInt8(datagram.count >> 8)] + datagram
        }
        func fragment(_ index: Int, of count: Int) -> [UInt8] {
            var item = [UInt8](repeating: 0, count: PeerDatagram.fragmentHeaderSize)
            item.withUnsafeMutableBytes {
                PeerDatagram.Fragment.writeHeader(id: 5, index: index, count: count, total: message.count, into: $0)
            }
            let range = PeerDatagram.fragmentRange(index: index, count: count, total: message.count)!
            return item + message[range]
        }
        return [
            framed([[PeerDatagram.Kind.message.rawValue] + message, PeerDatagram.notMemberItem]),
            framed([fragment(1, of: 3)]) + framed([fragment(0, of: 3), fragment(2, of: 3)]),
            framed([fragment(0, of: 2), fragment(0, of: 2)]),
        ]
    }
}
