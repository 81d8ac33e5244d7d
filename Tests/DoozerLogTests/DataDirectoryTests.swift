import DoozerLog
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class DataDirectoryTests: XCTestCase {
    func testCreatesTheDirectoryAndRefusesASecondHolder() throws {
        let parent = try TemporaryDirectory()
        defer { parent.remove() }
        let path = parent.file("data")
        let first = try DataDirectory(path: path)
        XCTAssertEqual(try first.subdirectory("log"), path + "/log")
        XCTAssertThrowsError(try DataDirectory(path: path)) { error in
            guard case DataDirectoryError.inUse(path, getpid()) = error else { return XCTFail("\(error)") }
            XCTAssertEqual("\(error)", "data directory \(path) is in use by process \(getpid()) (its LOCK file is locked)")
        }
        first.close()
        let second = try DataDirectory(path: path)
        second.close()
    }

    func testAMissingParentIsAClearError() throws {
        let parent = try TemporaryDirectory()
        defer { parent.remove() }
        XCTAssertThrowsError(try DataDirectory(path: parent.file("no/such"))) { error in
            XCTAssertEqual("\(error)", "cannot use data directory \(parent.file("no/such")): mkdir: \(Errno(rawValue: ENOENT))")
        }
    }
}
