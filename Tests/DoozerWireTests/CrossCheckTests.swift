import DoozerWire
import Foundation
import XCTest
import DoozerTestSupport

/// Checks the codec against Google's protobuf implementation, driven through crosscheck.py
/// (which sits next to this file). Needs `python3` on PATH with the `protobuf` package; when
/// either is missing these tests fail rather than skip, because CI installs both.
final class CrossCheckTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("crosscheck.py").path

    /// Runs crosscheck.py with `mode`, feeding `input`; returns its stdout, or nil after
    /// recording a failure.
    func runScript(_ mode: String, input: String = "") -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, mode]
        let inputFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("doozerwire-crosscheck-\(ProcessInfo.processInfo.processIdentifier)-\(mode).txt")
        let errorFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("doozerwire-crosscheck-\(ProcessInfo.processInfo.processIdentifier)-\(mode).err")
        defer {
            try? FileManager.default.removeItem(at: inputFile)
            try? FileManager.default.removeItem(at: errorFile)
        }
        do {
            try Data(input.utf8).write(to: inputFile)
            _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
            process.standardInput = try FileHandle(forReadingFrom: inputFile)
            process.standardError = try FileHandle(forWritingTo: errorFile)
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            switch process.terminationStatus {
            case 0:
                return String(decoding: data, as: UTF8.self)
            case 127:
                XCTFail("python3 is not on PATH; the protobuf cross-check needs it (CI installs python3 and `pip install protobuf`). \(stderr)")
            case 3:
                XCTFail("the Python protobuf package is missing; run `pip install protobuf`. \(stderr)")
            default:
                XCTFail("crosscheck.py \(mode) exited with status \(process.terminationStatus): \(stderr)")
            }
        } catch {
            XCTFail("could not run python3 \(Self.script): \(error)")
        }
        return nil
    }

    /// Python encodes; Swift decodes (owned and in place), compares fields, and re-encodes
    /// canonical messages byte-for-byte. Malformed payloads must be rejected by both.
    func testDecodesWhatPythonEncodes() throws {
        guard let output = runScript("generate") else { return }
        var counts: [String: Int] = [:]
        for line in output.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(parts.count, 3, "bad line: \(line)")
            guard parts.count == 3 else { continue }
            let (kind, payload, expected) = (parts[0], bytes(parts[1]), parts[2])
            counts[kind, default: 0] += 1
            switch kind {
            case "REQ", "REQX":
                let request = try Request(decoding: payload)
                XCTAssertEqual(listing(request), expected, parts[1])
                let viewListing = try payload.withUnsafeBytes { listing(try RequestView(decoding: $0)) }
                XCTAssertEqual(viewListing, expected, parts[1])
                if kind == "REQ" { XCTAssertEqual(hex(request.encoded()), parts[1]) }
            case "RESP", "RESPX":
                let response = try Response(decoding: payload)
                XCTAssertEqual(listing(response), expected, parts[1])
                if kind == "RESP" {
                    XCTAssertEqual(hex(response.encoded()), parts[1])
                    XCTAssertEqual(hex(encodeWithResponseFields(response)), parts[1])
                }
            case "REQERR":
                XCTAssertThrowsError(try Request(decoding: payload), parts[1])
                XCTAssertThrowsError(try payload.withUnsafeBytes { try RequestView(decoding: $0) }, parts[1])
            case "RESPERR":
                XCTAssertThrowsError(try Response(decoding: payload), parts[1])
            default:
                XCTFail("unknown kind in line: \(line)")
            }
        }
        for kind in ["REQ", "REQX", "REQERR", "RESP", "RESPX", "RESPERR"] {
            XCTAssertGreaterThan(counts[kind, default: 0], 0, "crosscheck.py produced no \(kind) lines")
        }
    }

    /// Swift encodes; Python parses, lists the fields and re-serialises, which must give the
    /// same bytes.
    func testPythonReparsesWhatSwiftEncodes() {
        var rng = SplitMix64(seed: 99)
        var requests = [Request(), Request(tag: .min, verb: .access, path: "", value: [], otherTag: -1, offset: .max, rev: .min)]
        var responses = [Response(), Response(tag: -1, flags: 12, rev: .max, path: "", value: [0, 255], len: -1,
                                              errCode: .other, errDetail: "")]
        for _ in 0..<400 {
            requests.append(rng.request())
            responses.append(rng.response())
        }
        // Verbs that are not in the enum would be kept as unknown fields by Python: not comparable.
        requests = requests.filter { $0.verb.map { Verb(rawValue: $0) != nil } ?? true }

        var input = ""
        var expected: [(payload: [UInt8], listing: String)] = []
        for request in requests {
            let payload = request.encoded()
            input += "REQ|\(hex(payload))\n"
            expected.append((payload, listing(request)))
        }
        for response in responses {
            let payload = encodeWithResponseFields(response)
            XCTAssertEqual(payload, response.encoded())
            input += "RESP|\(hex(payload))\n"
            expected.append((payload, listing(response)))
        }
        guard let output = runScript("reserialize", input: input) else { return }
        // Every answer line holds a "|", even for a message with no fields.
        let lines = output.split(separator: "\n")
        XCTAssertEqual(lines.count, expected.count, "python answered a different number of lines")
        for (line, want) in zip(lines, expected) {
            let parts = line.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(parts.count, 2, "bad line: \(line)")
            guard parts.count == 2 else { continue }
            XCTAssertNotEqual(parts[0], "ERR", "python rejected \(hex(want.payload)): \(parts[1])")
            XCTAssertEqual(parts[0], hex(want.payload), "python re-serialised differently")
            XCTAssertEqual(parts[1], want.listing, hex(want.payload))
        }
    }
}
