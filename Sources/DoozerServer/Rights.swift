import DoozerNode
import DoozerSystem

/// What a connection may do (spec §2.8). Grants only ever grow.
struct Rights {
    var read = false
    var write = false

    /// The rights a secret buys: the read-write secret first, then the read-only one. Both
    /// are compared in constant time, whichever matches.
    static func granted(by secret: UnsafeRawBufferPointer, readWrite: [UInt8], readOnly: [UInt8]) -> Rights? {
        let isReadWrite = readWrite.withUnsafeBytes { ConstantTime.equal(secret, $0) }
        let isReadOnly = readOnly.withUnsafeBytes { ConstantTime.equal(secret, $0) }
        if isReadWrite { return Rights(read: true, write: true) }
        if isReadOnly { return Rights(read: true, write: false) }
        return nil
    }

    mutating func add(_ other: Rights) {
        read = read || other.read
        write = write || other.write
    }
}
