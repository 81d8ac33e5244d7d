// Network faults between the nodes, as nftables rules in the namespace's output hook (every
// packet between two 127.0.0.x addresses passes it once). Only traffic between the nodes'
// addresses is ever dropped, plus — for partitions — what 127.0.0.1 exchanges with the nodes cut
// off: a node's catch-up copy dials from the kernel's default source, 127.0.0.1. The clients'
// own address is never named.

import Foundation

/// One directed path between two addresses on which packets are dropped: all of them
/// (`percent` 100) or at random.
struct DropRule: Equatable {
    let from: String
    let to: String
    var percent = 100

    var nft: String {
        let match = "ip saddr \(from) ip daddr \(to)"
        return percent >= 100 ? "\(match) counter drop" : "\(match) numgen random mod 100 < \(percent) counter drop"
    }
}

/// The namespace's nftables table for the run: owns it (created at `install`, emptied by
/// `heal`, deleted by `remove`).
struct Firewall {
    static let table = "doozerfault"
    let nft: String

    func install() throws {
        try apply("""
            table inet \(Self.table) {
              chain out {
                type filter hook output priority 0; policy accept;
              }
            }
            """)
    }

    /// Adds `rules` to what is already dropped.
    func drop(_ rules: [DropRule]) throws {
        guard !rules.isEmpty else { return }
        try apply(rules.map { "add rule inet \(Self.table) out \($0.nft)" }.joined(separator: "\n"))
    }

    /// Drops nothing any more; returns how many packets the rules it removed dropped.
    func heal() throws -> Int {
        let listing = try Spawn.run(nft, ["list", "chain", "inet", Self.table, "out"])
        guard listing.exit == .status(0) else { throw FaultError("nft list chain failed (\(listing.exit)): \(listing.output)") }
        try apply("flush chain inet \(Self.table) out")
        return Self.droppedPackets(listing.output)
    }

    /// The sum of every `counter packets N` in an nft listing.
    static func droppedPackets(_ listing: String) -> Int {
        let words = listing.split(whereSeparator: \.isWhitespace)
        return zip(words, words.dropFirst()).reduce(0) { sum, pair in pair.0 == "packets" ? sum + (Int(pair.1) ?? 0) : sum }
    }

    func remove() {
        _ = try? apply("delete table inet \(Self.table)")
    }

    private func apply(_ script: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-faults-\(getpid()).nft").path
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try Spawn.run(nft, ["-f", path])
        guard result.exit == .status(0) else { throw FaultError("nft -f with\n\(script)\nfailed (\(result.exit)): \(result.output)") }
    }
}
