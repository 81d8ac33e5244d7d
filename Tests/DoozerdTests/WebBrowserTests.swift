// The real-browser check of the web view: headless Chromium (Debian's `chromium` package)
// loads the viewer page; once the page's event stream is connected (seen in the server's
// stats, not guessed with a sleep) a client writes a unique value, and the page's DOM —
// read over the DevTools protocol — must show it.

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A headless Chromium driven over `--remote-debugging-pipe` (NUL-terminated JSON on fds 3
/// and 4), so no WebSocket client is needed. Runs in its own process group, which `stop`
/// ends by that group's id.
final class HeadlessChromium {
    let pid: pid_t
    private let commands: Int32     // we write, Chromium reads (its fd 3)
    private let replies: Int32      // Chromium writes (its fd 4), we read
    private var buffer: [UInt8] = []
    private var nextID = 1
    let logURL: URL
    private var stopped = false

    static func executable() -> String? {
        for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }

    init(executable: String, url: String) throws {
        var toBrowser: [Int32] = [0, 0], fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw HarnessError("pipe: \(String(cString: strerror(errno)))")
        }
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        logURL = profile.appendingPathExtension("log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = open(logURL.path, O_WRONLY | O_CLOEXEC)
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(log); close(devNull); close(toBrowser[0]); close(fromBrowser[1]) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, devNull, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let arguments = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
                         "--user-data-dir=\(profile.path)", url]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, &argv, environ)
        guard status == 0 else {
            close(toBrowser[1]); close(fromBrowser[0])
            throw HarnessError("posix_spawn \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        commands = toBrowser[1]
        replies = fromBrowser[0]
    }

    deinit { stop() }

    /// The last bytes Chromium wrote to stdout/stderr.
    func logTail() -> String {
        guard let data = try? Data(contentsOf: logURL) else { return "<no log>" }
        return String(decoding: data.suffix(2000), as: UTF8.self)
    }

    /// Sends one DevTools command and returns its `result` (events in between are skipped).
    func call(_ method: String, _ params: [String: Any] = [:], session: String? = nil, timeout: Double = 20) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var data = Array(try JSONSerialization.data(withJSONObject: message))
        data.append(0)
        var sent = 0
        while sent < data.count {
            let n = data[sent...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("DevTools pipe write: \(String(cString: strerror(errno))); log:\n\(logTail())") }
            sent += n
        }
        let deadline = now() + timeout
        while true {
            while let end = buffer.firstIndex(of: 0) {
                let frame = Data(buffer[..<end])
                buffer.removeFirst(end + 1)
                guard let object = try JSONSerialization.jsonObject(with: frame) as? [String: Any],
                      object["id"] as? Int == id else { continue }
                if let error = object["error"] { throw HarnessError("DevTools \(method): \(error)") }
                return object["result"] as? [String: Any] ?? [:]
            }
            let remaining = deadline - now()
            guard remaining > 0 else { throw HarnessError("DevTools \(method): no answer in \(timeout)s; log:\n\(logTail())") }
            var poller = pollfd(fd: replies, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { throw HarnessError("poll: \(String(cString: strerror(errno)))") }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(replies, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("Chromium closed the DevTools pipe; log:\n\(logTail())") }
            buffer += chunk[0..<n]
        }
    }

    /// Evaluates a JavaScript expression in `session` and returns its string value.
    func evaluate(_ expression: String, session: String) throws -> String {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true], session: session)
        return (result["result"] as? [String: Any])?["value"] as? String ?? ""
    }

    /// Attaches to the first page whose URL starts with `prefix`, waiting for it to appear.
    func attachToPage(urlPrefix prefix: String, timeout: Double = 20) throws -> String {
        let deadline = now() + timeout
        while true {
            let targets = try call("Target.getTargets")["targetInfos"] as? [[String: Any]] ?? []
            if let page = targets.first(where: { $0["type"] as? String == "page" && ($0["url"] as? String ?? "").hasPrefix(prefix) }),
               let id = page["targetId"] as? String {
                let attached = try call("Target.attachToTarget", ["targetId": id, "flatten": true])
                guard let session = attached["sessionId"] as? String else { throw HarnessError("no DevTools session: \(attached)") }
                return session
            }
            guard now() < deadline else { throw HarnessError("no page for \(prefix) among \(targets)") }
            pause(0.05)
        }
    }

    /// Closes the browser and ends its process group.
    func stop() {
        guard !stopped else { return }
        stopped = true
        _ = try? call("Browser.close", timeout: 3)
        close(commands)
        close(replies)
        var status: Int32 = 0
        let deadline = now() + 5
        while now() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            pause(0.05)
        }
        kill(-pid, SIGKILL)   // whatever is left of the group this test started
        _ = waitpid(pid, &status, WNOHANG)
        try? FileManager.default.removeItem(at: logURL.deletingPathExtension())
        try? FileManager.default.removeItem(at: logURL)
    }
}

final class WebBrowserTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? {
        var config = DoozerdProcess.Config(webEnabled: true)
        let host = Loopback.freshHost()
        config.host = host
        config.arguments = ["-w", "\(host):0"]
        return config
    }

    func testPageShowsALiveWrite() throws {
        guard let executable = HeadlessChromium.executable() else {
            XCTFail("the browser test needs Chromium: install Debian's `chromium` package (scripts/setup does)")
            return
        }
        let (host, port) = try server.webEndpoint()
        let dir = "/" + unique("browser")
        let c = try connect()
        _ = try c.mustSet("\(dir)/before", "listed <b>first</b>")
        let base = "http://\(host):\(port)"
        try server.waitForEventStreams(0)

        let browser = try HeadlessChromium(executable: executable, url: "\(base)\(dir)/")
        defer { browser.stop() }
        let session = try browser.attachToPage(urlPrefix: base)
        // The page's EventSource is connected once the server counts its stream.
        try server.waitForEventStreams(1, timeout: 30)

        let value = unique("live")
        let rev = try c.mustSet("\(dir)/sub/key", value)
        var dom = ""
        let deadline = now() + 20
        while now() < deadline {
            dom = try browser.evaluate("document.documentElement.outerHTML", session: session)
            if dom.contains(value) { break }
            pause(0.05)
        }
        XCTAssertTrue(dom.contains(value), "the page never showed the live write; DOM:\n\(dom.prefix(4000))\nChromium log:\n\(browser.logTail())")
        XCTAssertTrue(dom.contains("<td class=\"path\">\(dir)/sub/key</td><td class=\"rev\">\(rev)</td><td class=\"value\">\(value)</td>"),
                      "the row shows path, rev and value: \(dom.prefix(4000))")
        // The listing came through, escaped as text rather than markup.
        XCTAssertTrue(dom.contains("listed &lt;b&gt;first&lt;/b&gt;"), "listing: \(dom.prefix(4000))")
        XCTAssertTrue(dom.contains("<title>local \(dir)/ doozer viewer</title>"))
        XCTAssertTrue(dom.contains("id=\"status\" class=\"open\""), "status: \(dom.prefix(2000))")
        // The stats panel and the member list are filled from /$cluster.json (polled each second).
        var panel = ""
        let panelDeadline = now() + 10
        while now() < panelDeadline {
            panel = try browser.evaluate(
                "[document.getElementById('stat-streams').textContent, document.getElementById('members').textContent].join('|')",
                session: session)
            if panel.hasPrefix("1|"), panel.contains(nodeID), panel.contains(server.address) { break }
            pause(0.1)
        }
        XCTAssertTrue(panel.hasPrefix("1|") && panel.contains(nodeID) && panel.contains(server.address),
                      "stats panel and members: \(panel)")
    }
}
