/// What a connection may do (spec §2.8). Grants only ever grow.
struct Rights {
    var read = false
    var write = false

    /// The rights a secret buys: the read-write secret first, then the read-only one.
    static func granted(by secret: UnsafeRawBufferPointer, readWrite: [UInt8], readOnly: [UInt8]) -> Rights? {
        if secret.elementsEqual(readWrite) { return Rights(read: true, write: true) }
        if secret.elementsEqual(readOnly) { return Rights(read: true, write: false) }
        return nil
    }

    mutating func add(_ other: Rights) {
        read = read || other.read
        write = write || other.write
    }
}
