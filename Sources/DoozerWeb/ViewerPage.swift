import DoozerStore

/// HTML escaping for text and attribute values. Bytes that are not UTF-8 become U+FFFD.
public enum HTML {
    public static func escape(_ bytes: some Collection<UInt8>) -> String {
        escape(String(decoding: bytes, as: UTF8.self))
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// The viewer page (§7.1, B18 fixed): every inserted value escaped, the directory handed to
/// the script in a `data-` attribute (no inline script), only same-origin script and style,
/// enforced by a Content-Security-Policy. Pure.
public enum ViewerPage {
    /// The headers of every HTML answer.
    public static let headers: [(name: String, value: String)] = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ]

    public static func response(clusterName: String, directory: [UInt8], nodeID: String, snapshot: Snapshot,
                                stats: WebStats) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: headers,
                     body: Array(html(clusterName: clusterName, directory: directory, nodeID: nodeID,
                                      snapshot: snapshot, stats: stats).utf8))
    }

    public static func html(clusterName: String, directory: [UInt8], nodeID: String, snapshot: Snapshot,
                            stats: WebStats) -> String {
        let cluster = HTML.escape(clusterName)
        let path = HTML.escape(directory)
        let id = HTML.escape(nodeID)
        let view = ClusterView(snapshot: snapshot)
        let role = view.members.contains { $0.id == nodeID } ? "member" : "slave"
        func rows(_ nodes: [ClusterNode]) -> String {
            nodes.map { node in
                "<tr><td><code>\(HTML.escape(node.id))</code></td><td>\(HTML.escape(node.address))</td><td>\(HTML.escape(node.applied))</td></tr>"
            }.joined()
        }
        // Links to each ancestor directory, so the user can walk up the tree.
        var crumbs = "<a href=\"/\">/</a>"
        var prefix = "/"
        for component in directory.split(separator: UInt8(ascii: "/")) {
            prefix += String(decoding: component, as: UTF8.self) + "/"
            crumbs += "<a href=\"\(HTML.escape(percentEncodePath(Array(prefix.utf8))))\">\(HTML.escape(component))/</a>"
        }
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(cluster) \(path) doozer viewer</title>
        <link rel="stylesheet" href="/$main.css">
        <script src="/$main.js" defer></script>
        </head>
        <body data-path="\(path)">
        <header>
        <h1><span id="cluster">\(cluster)</span> <span id="path" class="crumbs">\(crumbs)</span></h1>
        <p id="self">node <code id="node-id">\(id)</code> · <span id="role">\(role)</span> · <span id="status" class="loading">loading</span></p>
        </header>
        <main>
        <section id="stats-panel">
        <h2>Stats</h2>
        <table id="stats">
        <tr><th>rev</th><td id="stat-rev">\(stats.rev)</td></tr>
        <tr><th>client connections</th><td id="stat-connections">\(stats.clientConnections)</td></tr>
        <tr><th>requests/s</th><td id="stat-requests">\(stats.requestsPerSecond)</td></tr>
        <tr><th>writes/s</th><td id="stat-writes">\(stats.writesPerSecond)</td></tr>
        <tr><th>event streams</th><td id="stat-streams">\(stats.eventStreams)</td></tr>
        <tr><th>majority</th><td id="stat-majority">\(stats.contact)</td></tr>
        </table>
        </section>
        <section id="nodes-panel">
        <h2>Members</h2>
        <table id="members"><thead><tr><th>id</th><th>address</th><th>applied</th></tr></thead><tbody>\(rows(view.members))</tbody></table>
        <h2>Slaves</h2>
        <table id="slaves"><thead><tr><th>id</th><th>address</th><th>applied</th></tr></thead><tbody>\(rows(view.slaves))</tbody></table>
        </section>
        <section id="tree-panel">
        <h2>Tree under <code>\(path)</code></h2>
        <table id="tree"><thead><tr><th>path</th><th>rev</th><th>value</th></tr></thead><tbody></tbody></table>
        <noscript><p>The live tree needs JavaScript (served by this node; nothing from other hosts).</p></noscript>
        </section>
        </main>
        </body>
        </html>

        """
    }

    /// Percent-encodes every byte of a path except unreserved characters and `/`.
    static func percentEncodePath(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
