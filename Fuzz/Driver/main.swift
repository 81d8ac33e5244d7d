// doozer-fuzz: libFuzzer over one DoozerFuzz target (scripts/fuzz builds and runs it).
//   doozer-fuzz TARGET [libFuzzer flags and corpus folders]
//   doozer-fuzz --write-seeds FOLDER     writes FOLDER/TARGET/seed-N for every target
//   doozer-fuzz --list-targets           the targets' names, one a line
import CLibFuzzer
import DoozerFuzz
import Foundation

let arguments = CommandLine.arguments
let usage = "usage: doozer-fuzz TARGET [libFuzzer arguments] | --write-seeds FOLDER | --list-targets\n"
    + "targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " "))\n"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(message.utf8))
    exit(2)
}

if arguments.count == 2, arguments[1] == "--list-targets" {
    print(FuzzTarget.allCases.map(\.rawValue).joined(separator: "\n"))
    exit(0)
}

if arguments.count == 3, arguments[1] == "--write-seeds" {
    let folder = URL(fileURLWithPath: arguments[2])
    for target in FuzzTarget.allCases {
        let directory = folder.appendingPathComponent(target.rawValue)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (n, seed) in target.seeds.enumerated() {
                try Data(seed).write(to: directory.appendingPathComponent("seed-\(n)"))
            }
        } catch {
            fail("doozer-fuzz: cannot write the seeds of \(target.rawValue) to \(directory.path): \(error)\n")
        }
    }
    exit(0)
}

guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else { fail(usage) }
nonisolated(unsafe) var selected = target

// libFuzzer sees the program name and the arguments after the target's name.
let forwarded = [arguments[0]] + arguments.dropFirst(2)
var argc = Int32(forwarded.count)
var cStrings: [UnsafeMutablePointer<CChar>?] = forwarded.map { strdup($0) } + [nil]
let status = cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var argv = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        do {
            try selected.run(UnsafeRawBufferPointer(start: data, count: size))
        } catch {
            fatalError("\(selected.rawValue): \(error)")
        }
        return 0
    }
}
exit(status)
