import DoozerReactor
import DoozerStore
import DoozerWire

/// One client connection: its channel, its rights, and the requests it has waiting on the
/// store (WAITs and reads of future revisions) so they die with it. Owned by `Server`;
/// touched only on the loop thread.
final class Session {
    let token: UInt64
    var channel: StreamChannel
    var rights: Rights
    /// WAITs registered in the store on this connection's behalf.
    var waits: Set<WatchID> = []
    /// Revisions this connection has reads parked on.
    var parkedRevisions: [Int64] = []
    /// Queued for a flush at the end of this loop iteration.
    var isDirty = false
    /// Input is not read or handled while the output holds more than the high-water mark.
    var isThrottled = false

    init(token: UInt64, channel: consuming StreamChannel, rights: Rights) {
        self.token = token
        self.channel = channel
        self.rights = rights
    }

    /// Appends one response frame to the output buffer.
    func send(_ fields: ResponseFields) {
        let count = fields.encodedCount
        let space = channel.output.writableSpace(minimum: Framing.headerSize + count)
        Framing.writeHeader(count, to: space.baseAddress!)
        fields.encode(to: space.baseAddress! + Framing.headerSize)
        channel.output.commit(Framing.headerSize + count)
    }

    func sendError(tag: Int32?, _ code: ErrorCode) {
        var fields = ResponseFields()
        fields.tag = tag
        fields.errCode = code
        send(fields)
    }

    func sendError(tag: Int32?, _ code: ErrorCode, detail: UnsafeRawBufferPointer) {
        var fields = ResponseFields()
        fields.tag = tag
        fields.errCode = code
        fields.errDetail = detail
        send(fields)
    }
}
