// Field numbers of the client protocol messages (spec §2.2, §2.3), in one place for every
// decoder and encoder.

@usableFromInline
enum RequestField {
    @inlinable static var tag: UInt32 { 1 }
    @inlinable static var verb: UInt32 { 2 }
    @inlinable static var path: UInt32 { 4 }
    @inlinable static var value: UInt32 { 5 }
    @inlinable static var otherTag: UInt32 { 6 }
    @inlinable static var offset: UInt32 { 7 }
    @inlinable static var rev: UInt32 { 9 }
}

@usableFromInline
enum ResponseField {
    @inlinable static var tag: UInt32 { 1 }
    @inlinable static var flags: UInt32 { 2 }
    @inlinable static var rev: UInt32 { 3 }
    @inlinable static var path: UInt32 { 5 }
    @inlinable static var value: UInt32 { 6 }
    @inlinable static var len: UInt32 { 8 }
    @inlinable static var errCode: UInt32 { 100 }
    @inlinable static var errDetail: UInt32 { 101 }
}
