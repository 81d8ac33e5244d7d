@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import DoozerSystem
import Foundation
import XCTest

/// `Server.init` that fails part-way closes every descriptor it had opened.
final class InitFailureTests: XCTestCase {
    private func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    }

    /// Runs a failing `Server.init` and returns how many more descriptors are open after it.
    private func descriptorsLeaked(by configuration: Configuration, file: StaticString = #filePath,
                                   line: UInt = #line) throws -> Int {
        let before = try openDescriptors()
        XCTAssertThrowsError(try HandDrivenNode.makeServer(configuration), "init must fail", file: file, line: line)
        return try openDescriptors() - before
    }

    func testWebPortTakenLeaksNothing() throws {
        let taken = try Socket.listenTCP(try SocketAddress.resolve("127.0.0.1:0"))
        defer { taken.close() }
        var configuration = Configuration(listenAddress: try SocketAddress.resolve("127.0.0.1:0"))
        configuration.webAddress = try Socket.localAddress(taken)
        XCTAssertEqual(try descriptorsLeaked(by: configuration), 0)
    }

    func testPeerPortTakenLeaksNothing() throws {
        // A UDP socket on a port whose TCP side is free: the client listener binds, the peer
        // socket cannot.
        let udp = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 4096, sendBuffer: 4096)
        defer { udp.close() }
        var configuration = Configuration(listenAddress: try Socket.localAddress(udp))
        configuration.webAddress = nil
        XCTAssertEqual(try descriptorsLeaked(by: configuration), 0)
    }
}
