// Owned Request and Response messages, for clients and tests. They decode through the same
// reader as `RequestView` and encode through the same writer as `ResponseFields`.

/// An owned `Request` message (spec §2.2): copies its strings and bytes, so it outlives any
/// buffer it was decoded from. Allocates; not meant for the server's hot path.
/// `path` is decoded as UTF-8, with invalid sequences replaced by U+FFFD.
public struct Request: Equatable, Sendable {
    public var tag: Int32?
    /// Raw `verb` number; may be a value that `Verb` does not define.
    public var verb: Int32?
    public var path: String?
    public var value: [UInt8]?
    public var otherTag: Int32?
    public var offset: Int32?
    public var rev: Int64?

    public init(tag: Int32? = nil, verb: Verb? = nil, path: String? = nil, value: [UInt8]? = nil,
                otherTag: Int32? = nil, offset: Int32? = nil, rev: Int64? = nil) {
        self.tag = tag
        self.verb = verb?.rawValue
        self.path = path
        self.value = value
        self.otherTag = otherTag
        self.offset = offset
        self.rev = rev
    }

    /// Same as the other initialiser, with a raw verb number (for verbs `Verb` lacks).
    public init(tag: Int32? = nil, verb: Int32, path: String? = nil, value: [UInt8]? = nil,
                otherTag: Int32? = nil, offset: Int32? = nil, rev: Int64? = nil) {
        self.init(tag: tag, verb: Verb?.none, path: path, value: value, otherTag: otherTag,
                  offset: offset, rev: rev)
        self.verb = verb
    }

    /// Decodes a whole payload (without the frame header) via `RequestView`, then copies.
    public init(decoding payload: [UInt8]) throws(WireError) {
        let decoded = payload.withUnsafeBytes { bytes in
            Result { () throws(WireError) in try Request(RequestView(decoding: bytes)) }
        }
        self = try decoded.get()
    }

    /// Copies a view's fields out of the buffer it points into.
    public init(_ view: RequestView) {
        tag = view.tag
        verb = view.verb
        path = view.path.map { String(decoding: $0, as: UTF8.self) }
        value = view.value.map { [UInt8]($0) }
        otherTag = view.otherTag
        offset = view.offset
        rev = view.rev
    }

    /// The start of a whole frame (header included) of a request with only `verb` and a
    /// `value` of `valueCount` bytes: everything up to the value's bytes, for a sender that
    /// writes those right after it (by reference, say).
    public static func frameHead(verb: Verb, valueCount: Int) -> [UInt8] {
        let head = ProtoSize.int32(RequestField.verb, verb.rawValue) &+ ProtoSize.key(RequestField.value)
            &+ ProtoSize.varint(UInt64(valueCount))
        return encodedArray(count: Framing.headerSize &+ head) { start in
            Framing.writeHeader(head &+ valueCount, to: start)
            var writer = ProtoWriter(start + Framing.headerSize)
            writer.int32(RequestField.verb, verb.rawValue)
            writer.key(RequestField.value, wireType: 2)
            writer.varint(UInt64(valueCount))
        }
    }

    /// The payload only (no frame header), fields in ascending field-number order.
    public func encoded() -> [UInt8] {
        withOptionalBytes(path) { path in
            withOptionalBytes(value) { value in
                RequestFields(tag: tag, verb: verb, path: path, value: value, otherTag: otherTag,
                              offset: offset, rev: rev).encoded()
            }
        }
    }
}

/// An owned `Response` message (spec §2.3): copies its strings and bytes. Allocates; the
/// server's hot path uses `ResponseFields` instead. `path` and `errDetail` are decoded as UTF-8,
/// with invalid sequences replaced by U+FFFD.
public struct Response: Equatable, Sendable {
    public var tag: Int32?
    public var flags: Int32?
    public var rev: Int64?
    public var path: String?
    public var value: [UInt8]?
    public var len: Int32?
    /// Raw `err_code` number; `ErrorCode(rawValue:)` names the known ones.
    public var errCode: Int32?
    public var errDetail: String?

    public init(tag: Int32? = nil, flags: Int32? = nil, rev: Int64? = nil, path: String? = nil,
                value: [UInt8]? = nil, len: Int32? = nil, errCode: Int32? = nil, errDetail: String? = nil) {
        self.tag = tag
        self.flags = flags
        self.rev = rev
        self.path = path
        self.value = value
        self.len = len
        self.errCode = errCode
        self.errDetail = errDetail
    }

    /// Same as the other initialiser, with a named error code.
    public init(tag: Int32? = nil, flags: Int32? = nil, rev: Int64? = nil, path: String? = nil,
                value: [UInt8]? = nil, len: Int32? = nil, errCode: ErrorCode, errDetail: String? = nil) {
        self.init(tag: tag, flags: flags, rev: rev, path: path, value: value, len: len,
                  errCode: errCode.rawValue, errDetail: errDetail)
    }

    /// Decodes a whole payload (without the frame header).
    public init(decoding payload: [UInt8]) throws(WireError) {
        // The view points into `payload`'s bytes: everything is copied out inside the scope
        // that keeps them valid, never after it.
        let decoded = payload.withUnsafeBytes { bytes in
            Result { () throws(WireError) -> Response in
                let view = try ResponseView(decoding: bytes)
                return Response(tag: view.tag, flags: view.flags, rev: view.rev,
                                path: view.path.map { String(decoding: $0, as: UTF8.self) },
                                value: view.value.map { [UInt8]($0) }, len: view.len, errCode: view.errCode,
                                errDetail: view.errDetail.map { String(decoding: $0, as: UTF8.self) })
            }
        }
        self = try decoded.get()
    }

    /// The payload only (no frame header), fields in ascending field-number order.
    public func encoded() -> [UInt8] {
        withOptionalBytes(path) { path in
            withOptionalBytes(value) { value in
                withOptionalBytes(errDetail) { errDetail in
                    var fields = ResponseFields()
                    fields.tag = tag
                    fields.flags = flags
                    fields.rev = rev
                    fields.path = path
                    fields.value = value
                    fields.len = len
                    fields.errDetail = errDetail
                    return encodedArray(count: fields.encodedCount(errCode: errCode)) {
                        fields.encode(to: $0, errCode: errCode)
                    }
                }
            }
        }
    }
}

// MARK: - Internal counterparts of RequestView / ResponseFields for the other direction

/// Request fields borrowed for encoding (the client's direction).
struct RequestFields {
    var tag: Int32?
    var verb: Int32?
    var path: UnsafeRawBufferPointer?
    var value: UnsafeRawBufferPointer?
    var otherTag: Int32?
    var offset: Int32?
    var rev: Int64?

    var encodedCount: Int {
        ProtoSize.int32(RequestField.tag, tag)
            &+ ProtoSize.int32(RequestField.verb, verb)
            &+ ProtoSize.bytes(RequestField.path, path)
            &+ ProtoSize.bytes(RequestField.value, value)
            &+ ProtoSize.int32(RequestField.otherTag, otherTag)
            &+ ProtoSize.int32(RequestField.offset, offset)
            &+ ProtoSize.int64(RequestField.rev, rev)
    }

    func encode(to destination: UnsafeMutableRawPointer) {
        var writer = ProtoWriter(destination)
        writer.int32(RequestField.tag, tag)
        writer.int32(RequestField.verb, verb)
        writer.bytes(RequestField.path, path)
        writer.bytes(RequestField.value, value)
        writer.int32(RequestField.otherTag, otherTag)
        writer.int32(RequestField.offset, offset)
        writer.int64(RequestField.rev, rev)
    }

    func encoded() -> [UInt8] {
        encodedArray(count: encodedCount, encode(to:))
    }
}

/// Response decoded in place (the client's direction); same rules as `RequestView`.
struct ResponseView {
    var tag: Int32?
    var flags: Int32?
    var rev: Int64?
    var path: UnsafeRawBufferPointer?
    var value: UnsafeRawBufferPointer?
    var len: Int32?
    var errCode: Int32?
    var errDetail: UnsafeRawBufferPointer?

    init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        var reader = ProtoReader(payload)
        while let (field, fieldValue) = try reader.next() {
            switch fieldValue {
            case .varint(let number):
                switch field {
                case ResponseField.tag: tag = Int32(truncatingIfNeeded: number)
                case ResponseField.flags: flags = Int32(truncatingIfNeeded: number)
                case ResponseField.rev: rev = Int64(bitPattern: number)
                case ResponseField.len: len = Int32(truncatingIfNeeded: number)
                case ResponseField.errCode: errCode = Int32(truncatingIfNeeded: number)
                default: break
                }
            case .bytes(let bytes):
                switch field {
                case ResponseField.path: path = bytes
                case ResponseField.value: value = bytes
                case ResponseField.errDetail: errDetail = bytes
                default: break
                }
            case .fixed:
                break
            }
        }
    }
}

// MARK: - Helpers

/// A new array of exactly `count` bytes, filled by `fill`.
func encodedArray(count: Int, _ fill: (UnsafeMutableRawPointer) -> Void) -> [UInt8] {
    guard count > 0 else { return [] }
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        fill(UnsafeMutableRawPointer(buffer.baseAddress!))
        initialized = count
    }
}

func withOptionalBytes<R>(_ string: String?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard var string else { return body(nil) }
    return string.withUTF8 { body(UnsafeRawBufferPointer($0)) }
}

func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
