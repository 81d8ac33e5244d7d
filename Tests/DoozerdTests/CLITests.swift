// §8 / §12.13 the `doozer` CLI against a real doozerd: exact stdout and stderr bytes, exit
// statuses (items 109–127), plus find -l, get -r, binary bodies, watch, option parsing.

import DoozerWire
import XCTest

final class CLITests: CLITestCase {
    // MARK: Golden texts

    private var globalOptions: String {
        """
          -a string
            \tthe doozer cluster URI to connect to (default "doozer:?ca=127.0.0.1:8046")
          -b string
            \tthe DzNS URI, used to look up the cluster named by cn= in -a
          -h
            \tshow help
          -r int
            \trequest rev for find, get, wait and watch (-1: the current one) (default -1)
          -t duration
            \twait timeout, e.g. 500ms or 1m30s (0: none)
          -tlsca file
            \tconnect with TLS, trusting the CA certificates (PEM) in this file
          -tlscert file
            \tconnect with TLS, presenting this client certificate (PEM; needs -tlskey)
          -tlskey file
            \tthe private key (PEM) of -tlscert
          -v
            \tprint doozer's version string
        """
    }

    private var usage: String {
        """
        Use: \(argv0) [options] <command> [options] [args]

        Each command takes zero or more options and zero or more arguments.
        In addition, there are some global options that can be used with any
        command. The exit status is 0 on success, 1 for a rev mismatch, and 2
        otherwise.

        Global Options:
        \(globalOptions)

        Environment:

          DOOZER_URI - The doozer cluster to bind to; overridden by -a.

          DOOZER_BOOT_URI - The DzNS to look up addresses in; overridden by -b.

          DOOZER_TLS_CA, DOOZER_TLS_CERT, DOOZER_TLS_KEY - Defaults for -tlsca,
          -tlscert and -tlskey. TLS is on when one of them is set or the URI
          says tls=1 (then with the system's CA certificates).

        Commands:
          add <path>           - add a key only if it isn't already set
          del <path> <rev>     - delete a file
          find <path>          - list files
          get <path>           - read a file
          help <command>       - provide detailed help on a command
          nop                  - consensus
          rev                  - show current revision
          self                 - identify a node
          set <path> <rev>     - write a file
          snapshot save <file> - save a copy of the whole store to a file
          stat <path>          - print file status
          touch <path>         - update rev of a file
          wait <glob>          - wait for a change
          watch <glob>         - watch for a change

        """
    }

    private var getHelp: String {
        """
        Use: \(argv0) [options] get [options] <path>

        Prints the body of the file at <path>.

        The body is printed as is, without a trailing newline. A file that
        does not exist prints nothing. With -r <rev>, prints the body the
        file had at revision <rev> (TOO_LATE once that revision has left the
        server's history).

        Without -r, the node this client is connected to answers from what
        it has applied, which may lag behind a write acknowledged through
        another node.

        Options:
          -linear  linearizable read: the body includes every write
                   acknowledged before the command started, through any
                   node. It costs a NOP first (one consensus round, and a
                   no-op revision in the history), so it needs write access
                   and a member (a slave answers READONLY). Not with -r.

        """
    }

    private func connection() throws -> TestConnection { try connect() }

    // MARK: 109, 110: version, missing and unknown command

    func testVersion() throws {
        assertCLI(try doozerRaw(["-v"]), status: 0, stdout: "doozer 0.9.0-swift\n", "#109 -v")
        // -v is only honoured before the command: after it, it is accepted and ignored.
        let rev = try doozer("rev", "-v")
        XCTAssertEqual(rev.status, 0, "#109 rev -v runs rev; \(rev.summary)")
        XCTAssertNotNil(printedRev(rev, "#109 rev -v"))
    }

    func testMissingAndUnknownCommand() throws {
        assertCLI(try doozerRaw([]), status: 127, stdout: "", stderr: "\(argv0): missing command\n" + usage,
                  "#110 no command")
        assertCLI(try doozerRaw(["-r", "5"]), status: 127, stdout: "", stderr: "\(argv0): missing command\n" + usage,
                  "#110 options but no command")
        assertCLI(try doozerRaw(["frob", "/x"]), status: 127, stdout: "", stderr: "Unknown command: frob\n" + usage,
                  "#110 unknown command")
    }

    // MARK: 111, 112: arguments and help

    func testWrongNumberOfArguments() throws {
        assertCLI(try doozerRaw(["get"]), status: 127, stdout: getHelp, stderr: "get: wrong number of arguments\n",
                  "#111 get without its path")
        assertCLI(try doozerRaw(["get", "/a", "/b"]), status: 127, stdout: getHelp,
                  stderr: "get: wrong number of arguments\n", "#111 get with two paths")
        let rev = try doozerRaw(["rev", "extra"])
        assertCLI(rev, status: 127, stdout: "Use: \(argv0) [options] rev [options] \n\nPrints the current revision of the data store.\n",
                  stderr: "rev: wrong number of arguments\n", "#111 rev with an argument")
    }

    func testHelp() throws {
        assertCLI(try doozerRaw(["get", "-h"]), status: 0, stdout: getHelp, "#112 get -h")
        assertCLI(try doozerRaw(["help", "get"]), status: 0, stdout: getHelp, "#112 help get")
        assertCLI(try doozerRaw(["get", "-h", "/x"]), status: 0, stdout: getHelp, "#112 get -h /x")
        assertCLI(try doozerRaw(["help", "help"]), status: 0, stdout: "Use: \(argv0) [options] help [options] <command>\n",
                  "#112 help help: the Use line only")
        assertCLI(try doozerRaw(["help", "nope"]), status: 0, stdout: "Use: \(argv0) [options] nope [options] \n",
                  "#112 help of an unknown command: empty arg spec")
        assertCLI(try doozerRaw(["-h"]), status: 0, stdout: "", stderr: usage, "§8.2 -h before the command")
        assertCLI(try doozerRaw(["-h", "get"]), status: 0, stdout: "", stderr: usage, "§8.2 -h before get")
        let selfHelp = try doozerRaw(["self", "-h"])
        assertCLI(selfHelp, status: 0, stdout: """
            Use: \(argv0) [options] self [options] 

            Prints the id of the node this client is connected to, without a
            trailing newline.

            """, "#112 self -h")
        let find = try doozerRaw(["help", "find"])
        XCTAssertEqual(find.status, 0, "find help; \(find.summary)")
        XCTAssertTrue(find.out.contains("  -l  long listing, one line per entry:\n"
            + "        <rev> <len> <path>   for a file (its revision and length)\n"
            + "        d <count> <path>     for a directory (its number of entries)\n"), "find help documents -l: \(find.out)")
        for name in ["wait", "watch"] {
            let help = try doozerRaw(["help", name])
            XCTAssertEqual(help.status, 0, "\(name) help")
            XCTAssertTrue(help.out.hasPrefix("Use: \(argv0) [options] \(name) [options] <glob>\n\n"), "\(name) help: \(help.out)")
            for needle in ["<path> <rev> <set|del> <len>", "**  matches zero or more characters, including /", "-r"] {
                XCTAssertTrue(help.out.contains(needle), "\(name) help mentions \(needle): \(help.out)")
            }
        }
        XCTAssertTrue(try doozerRaw(["help", "wait"]).out.contains("-t <duration>"), "wait help documents -t")
    }

    // MARK: §8.1 option parsing

    func testOptionErrors() throws {
        assertCLI(try doozerRaw(["-x", "rev"]), status: 2, stdout: "",
                  stderr: "flag provided but not defined: -x\nUsage of \(argv0):\n\(globalOptions)\n",
                  "§8.1 unknown option before the command: generic listing")
        assertCLI(try doozerRaw(["rev", "-x"]), status: 2, stdout: "",
                  stderr: "flag provided but not defined: -x\n" + usage, "§8.1 unknown option after the command: usage")
        assertCLI(try doozerRaw(["-t", "1x", "wait", "/x"]), status: 2, stdout: "",
                  stderr: "invalid value \"1x\" for flag -t: parse error\nUsage of \(argv0):\n\(globalOptions)\n",
                  "-t with a bad duration")
        assertCLI(try doozerRaw(["wait", "-r", "abc", "/x"]), status: 2, stdout: "",
                  stderr: "invalid value \"abc\" for flag -r: parse error\n" + usage, "-r not a number")
        assertCLI(try doozerRaw(["get", "-l", "/x"]), status: 2, stdout: "",
                  stderr: "flag provided but not defined: -l\n" + usage, "-l belongs to find only")
        assertCLI(try doozerRaw(["-a"]), status: 2, stdout: "",
                  stderr: "flag needs an argument: -a\nUsage of \(argv0):\n\(globalOptions)\n", "-a without its value")
    }

    func testOptionsInEitherPosition() throws {
        let expected = "/ctl/name 1 set 5\nlocal\n"
        assertCLI(try doozer("-r", "1", "wait", "/ctl/name"), status: 0, stdout: expected, "§8.1 -r before the command")
        assertCLI(try doozer("wait", "-r", "1", "/ctl/name"), status: 0, stdout: expected, "§8.1 -r after the command")
        assertCLI(try doozer("wait", "-r=1", "/ctl/name"), status: 0, stdout: expected, "§8.1 -r=1")
        assertCLI(try runDoozerCLI(["wait", "-a", server.uri, "-r", "1", "/ctl/name"]), status: 0, stdout: expected,
                  "§8.1 -a after the command")
        // Parsing stops at the first non-option: the -1 after the path is the rev.
        let path = "/\(unique("cli"))/x"
        let set = try doozer("set", path, "-1", stdin: bytes("v"))
        let rev = printedRev(set, "§8.1 set /x -1")
        XCTAssertEqual(set.err, "", "§8.1 set /x -1")
        let stored = try connection().get(path)
        XCTAssertEqual(stored.rev, rev, "§8.1 set /x -1 wrote at the printed rev")
        XCTAssertEqual(stored.value, bytes("v"), "§8.1 set /x -1 body")
        // `--` ends the options too.
        assertCLI(try doozer("get", "--", path), status: 0, stdout: "v", "§8.1 -- before the path")
    }

    // MARK: 113 add, B19

    func testAdd() throws {
        let path = "/\(unique("cli"))/f"
        let added = try doozer("add", path, stdin: bytes("hello"))
        let rev = printedRev(added, "#113 add")
        XCTAssertEqual(added.status, 0, "#113 add; \(added.summary)")
        XCTAssertEqual(added.err, "", "#113 add")
        let stored = try connection().get(path)
        XCTAssertEqual(stored.rev, rev, "#113 the printed rev is the file's")
        XCTAssertEqual(stored.value, bytes("hello"), "#113 the body is stdin")
        assertCLI(try doozer("add", path, stdin: bytes("again")), status: 1, stdout: "",
                  stderr: "Error: REV_MISMATCH\n", "#113/B19 add of an existing file exits 1")
        XCTAssertEqual(try connection().get(path).value, bytes("hello"), "#113 unchanged")
    }

    func testSetRevMismatchExitsOne() throws {
        let path = "/\(unique("cli"))/f"
        let connection = try connection()
        let first = try connection.mustSet(path, "one")
        try connection.mustSet(path, "two")
        assertCLI(try doozer("set", path, "\(first)", stdin: bytes("three")), status: 1, stdout: "",
                  stderr: "Error: REV_MISMATCH\n", "B19 set with an old rev exits 1")
        let current = try connection.get(path).rev!
        let set = try doozer("set", path, "\(current)", stdin: bytes("three"))
        let rev = printedRev(set, "set with the current rev")
        XCTAssertEqual(try connection.get(path).rev, rev, "set printed the new rev")
        assertCLI(try doozer("set", path, "0"), status: 1, stdout: "", stderr: "Error: REV_MISMATCH\n",
                  "B19 set 0 on an existing file exits 1")
        // Other server errors exit 2.
        assertCLI(try doozer("set", "/ctl", "-1"), status: 2, stdout: "", stderr: "Error: ISDIR\n", "set on a directory")
        assertCLI(try doozer("set", "/bad//path", "-1"), status: 2, stdout: "", stderr: "Error: BAD_PATH\n", "set on a bad path")
    }

    // MARK: 114 get, get -r, binary bodies

    func testGet() throws {
        let dir = "/\(unique("cli"))"
        try connection().mustSet("\(dir)/f", "hello")
        assertCLI(try doozer("get", "\(dir)/f"), status: 0, stdout: "hello", "#114 get: the body, no newline")
        assertCLI(try doozer("get", "\(dir)/missing"), status: 0, stdout: "", "#114 get of a missing file")
        assertCLI(try doozer("get", dir), status: 2, stdout: "", stderr: "Error: ISDIR\n", "#114 get of a directory")
        assertCLI(try doozer("get", "/"), status: 2, stdout: "", stderr: "Error: ISDIR\n", "#114 get of /")
    }

    func testGetAtRevision() throws {
        let path = "/\(unique("cli"))/g"
        let connection = try connection()
        let first = try connection.mustSet(path, "one")
        let second = try connection.mustSet(path, "two")
        try connection.mustSet(path, "three")
        assertCLI(try doozer("get", "-r", "\(first)", path), status: 0, stdout: "one", "get -r first rev")
        assertCLI(try doozer("-r", "\(second)", "get", path), status: 0, stdout: "two", "-r second rev get")
        assertCLI(try doozer("get", "-r", "\(first - 1)", path), status: 0, stdout: "", "get -r before the file existed")
        assertCLI(try doozer("get", path), status: 0, stdout: "three", "get without -r: current")
        assertCLI(try doozer("get", "-r", "-1", path), status: 0, stdout: "three", "get -r -1: current")
    }

    /// get -linear: the body, after a NOP (a no-op event, path `/`); not with -r.
    func testGetLinear() throws {
        let path = "/\(unique("cli"))/linear"
        let connection = try connection()
        let written = try connection.mustSet(path, "latest")
        assertCLI(try doozer("get", "-linear", path), status: 0, stdout: "latest", "get -linear")
        let noOp = try connection.wait("/", rev: written + 1)
        XCTAssertEqual(noOp.flags, 0, "the NOP of get -linear: \(noOp.brief)")
        assertCLI(try doozer("-linear", "get", path), status: 2, stdout: "",
                  stderr: "flag provided but not defined: -linear\nUsage of \(argv0):\n\(globalOptions)\n",
                  "-linear is an option of get only")
        assertCLI(try doozer("get", "-linear", "\(path)-missing"), status: 0, stdout: "", "get -linear of a missing file")
        assertCLI(try doozer("get", "-linear", "-r", "\(written)", path), status: 2, stdout: "",
                  stderr: "Error: -linear reads the current state; it cannot be used with -r\n", "get -linear -r")
    }

    func testBinaryBodies() throws {
        let path = "/\(unique("cli"))/bin"
        let body = (0...255).map { UInt8($0) } + [0, 10, 13, 0xff, 0xfe] + Array(repeating: 0x80, count: 70_000)
        let set = try doozer("set", path, "-1", stdin: body)
        guard let rev = printedRev(set, "set with a binary body") else { return }
        XCTAssertEqual(try connection().get(path).value, body, "stdin stored byte for byte")
        assertCLI(try doozer("get", path), status: 0, stdout: body, "get prints the body byte for byte")
        assertCLI(try doozer("wait", "-r", "\(rev)", path), status: 0,
                  stdout: Array("\(path) \(rev) set \(body.count)\n".utf8) + body + [10], "wait record of a binary body")
        let empty = try doozer("add", "\(path)2")
        XCTAssertNotNil(printedRev(empty, "add with empty stdin"))
        let stored = try connection().get("\(path)2")
        XCTAssertEqual(stored.value, [], "empty stdin: empty body")
        XCTAssertGreaterThan(stored.rev ?? 0, 0, "empty stdin: the file exists")
    }

    // MARK: 115 bad rev arguments

    func testBadRevArgumentIsRejectedBeforeConnecting() throws {
        // 127.0.0.1:1 refuses connections: the parse error must come first.
        let nowhere = "doozer:?ca=127.0.0.1:1"
        assertCLI(try doozerRaw(["-a", nowhere, "set", "/f", "abc"]), status: 2, stdout: "",
                  stderr: "Error: strconv.ParseInt: parsing \"abc\": invalid syntax\n", "#115 set /f abc")
        assertCLI(try doozerRaw(["-a", nowhere, "del", "/f", "12x"]), status: 2, stdout: "",
                  stderr: "Error: strconv.ParseInt: parsing \"12x\": invalid syntax\n", "#115 del /f 12x")
        assertCLI(try doozerRaw(["-a", nowhere, "set", "/f", "99999999999999999999"]), status: 2, stdout: "",
                  stderr: "Error: strconv.ParseInt: parsing \"99999999999999999999\": value out of range\n",
                  "#115 rev out of range")
        assertCLI(try doozerRaw(["-a", nowhere, "set", "/f", ""]), status: 2, stdout: "",
                  stderr: "Error: strconv.ParseInt: parsing \"\": invalid syntax\n", "#115 empty rev")
        assertCLI(try doozerRaw(["-a", nowhere, "set", "/f", "1"]), status: 2, stdout: "",
                  stderr: "Error: dial tcp 127.0.0.1:1: connect: connection refused\n", "§8.3 a connection error exits 2")
    }

    // MARK: 116 stat

    func testStat() throws {
        let dir = "/\(unique("cli"))"
        let connection = try connection()
        let rev = try connection.mustSet("\(dir)/f", "hello")
        try connection.mustSet("\(dir)/g", "")
        assertCLI(try doozer("stat", "\(dir)/f"), status: 0, stdout: "\(rev) 5\n", "#116 stat of a file")
        assertCLI(try doozer("stat", dir), status: 0, stdout: "d 2\n", "#116 stat of a directory")
        let ctl = try connection.listDir("/ctl")
        assertCLI(try doozer("stat", "/ctl"), status: 0, stdout: "d \(ctl.count)\n", "#116 stat /ctl")
        assertCLI(try doozer("stat", "\(dir)/missing"), status: 2, stdout: "",
                  stderr: "No such file or directory: \(dir)/missing\n", "#116 stat of a missing path")
    }

    // MARK: 117 touch

    func testTouch() throws {
        let dir = "/\(unique("cli"))"
        let connection = try connection()
        let rev = try connection.mustSet("\(dir)/f", "hello")
        assertCLI(try doozer("touch", "\(dir)/f"), status: 0, stdout: "", "#117 touch")
        let touched = try connection.get("\(dir)/f")
        XCTAssertEqual(touched.value, bytes("hello"), "#117 touch keeps the body")
        XCTAssertGreaterThan(touched.rev ?? 0, rev, "#117 touch increases the rev")
        assertCLI(try doozer("touch", "\(dir)/new"), status: 0, stdout: "", "#117 touch of a missing file")
        let created = try connection.get("\(dir)/new")
        XCTAssertEqual(created.value, [], "#117 an empty file")
        XCTAssertGreaterThan(created.rev ?? 0, 0, "#117 it exists")
        assertCLI(try doozer("touch", dir), status: 2, stdout: "", stderr: "Error: ISDIR\n", "touch of a directory")
    }

    // MARK: 118 del

    func testDel() throws {
        let path = "/\(unique("cli"))/f"
        let connection = try connection()
        let old = try connection.mustSet(path, "a")
        let current = try connection.mustSet(path, "b")
        assertCLI(try doozer("del", path, "\(old)"), status: 1, stdout: "", stderr: "Error: REV_MISMATCH\n",
                  "#118 del with an old rev")
        XCTAssertEqual(try connection.get(path).rev, current, "#118 still there")
        assertCLI(try doozer("del", path, "\(current)"), status: 0, stdout: "", "#118 del with the current rev")
        XCTAssertEqual(try connection.get(path).rev, 0, "#118 deleted")
        assertCLI(try doozer("del", path, "0"), status: 0, stdout: "", "del of a missing file succeeds")
        assertCLI(try doozer("del", "/ctl", "-1"), status: 2, stdout: "", stderr: "Error: ISDIR\n", "del of a directory")
    }

    // MARK: 119 rev, self, nop

    func testRevSelfNop() throws {
        let before = try connection().rev()
        let rev = try doozer("rev")
        XCTAssertEqual(rev.err, "", "#119 rev")
        if let printed = printedRev(rev, "#119 rev") {
            XCTAssertGreaterThanOrEqual(printed, before, "#119 rev is current")
        }
        assertCLI(try doozer("self"), status: 0, stdout: nodeID, "#119 self: the id, no newline")
        assertCLI(try doozer("nop"), status: 0, stdout: "", "#119 nop")
    }

    // MARK: 120 find, find -l

    func testFind() throws {
        assertCLI(try doozer("find", "/ctl/cal"), status: 0, stdout: "/ctl/cal\n/ctl/cal/0\n", "#120 find /ctl/cal")
        assertCLI(try doozer("find", "/nope"), status: 0, stdout: "", stderr: "NOENT\n", "#120 find of a missing path")
        assertCLI(try doozer("find", "/ctl/"), status: 0, stdout: "", stderr: "NOENT\n", "find with a trailing slash")
        let dir = "/\(unique("cli"))"
        let connection = try connection()
        let revA = try connection.mustSet("\(dir)/a", "1")
        let revB = try connection.mustSet("\(dir)/b/c", "22")
        let revD = try connection.mustSet("\(dir)/b/d", "")
        let revE = try connection.mustSet("\(dir)/e", "4444")
        assertCLI(try doozer("find", dir), status: 0,
                  stdout: "\(dir)\n\(dir)/a\n\(dir)/b\n\(dir)/b/c\n\(dir)/b/d\n\(dir)/e\n", "find: pre-order, sorted")
        assertCLI(try doozer("find", "\(dir)/a"), status: 0, stdout: "\(dir)/a\n", "find of a file: its path")
        assertCLI(try doozer("find", "-l", dir), status: 0, stdout: """
            d 3 \(dir)
            \(revA) 1 \(dir)/a
            d 2 \(dir)/b
            \(revB) 2 \(dir)/b/c
            \(revD) 0 \(dir)/b/d
            \(revE) 4 \(dir)/e

            """, "find -l")
        assertCLI(try doozer("find", "-l", "\(dir)/e"), status: 0, stdout: "\(revE) 4 \(dir)/e\n", "find -l of a file")
        // -r: the tree as it was.
        assertCLI(try doozer("find", "-r", "\(revB)", dir), status: 0,
                  stdout: "\(dir)\n\(dir)/a\n\(dir)/b\n\(dir)/b/c\n", "find -r")
        assertCLI(try doozer("-r", "\(revB)", "find", "-l", dir), status: 0,
                  stdout: "d 2 \(dir)\n\(revA) 1 \(dir)/a\nd 1 \(dir)/b\n\(revB) 2 \(dir)/b/c\n", "find -l -r")
        assertCLI(try doozer("find", "-r", "\(revA - 1)", dir), status: 0, stdout: "", stderr: "NOENT\n",
                  "find -r before the tree existed")
    }

    // MARK: 121–123 wait

    func testWaitInHistory() throws {
        assertCLI(try doozer("wait", "-r", "1", "/ctl/name"), status: 0, stdout: "/ctl/name 1 set 5\nlocal\n", "#121")
        assertCLI(try doozer("wait", "-r", "7", "/**"), status: 0, stdout: "/ 7  0\n\n", "#122 no-op record")
        let path = "/\(unique("cli"))/w"
        let connection = try connection()
        let set = try connection.mustSet(path, "x")
        XCTAssertNil(try connection.del(path, rev: -1).errCode)
        let delRev = try connection.wait(path, rev: set + 1).rev ?? 0
        assertCLI(try doozer("wait", "-r", "\(set + 1)", path), status: 0, stdout: "\(path) \(delRev) del 0\n\n",
                  "del record")
        assertCLI(try doozer("wait", "-r", "1", "/bad glob"), status: 2, stdout: "",
                  stderr: "Error: OTHER: invalid glob pattern: /bad glob\n", "bad glob")
    }

    func testWaitWithoutRevStartsAtCurrentInclusive() throws {
        let connection = try connection()
        // The latest event must be ours when the CLI asks for REV; a pulse in between spoils an
        // attempt (then the wait times out), so try a few times.
        for attempt in 1...5 {
            let path = "/\(unique("cli"))/w"
            let rev = try connection.mustSet(path, "latest")
            let result = try doozer("wait", "-t", "300ms", path)
            guard try connection.rev() == rev else { continue }
            assertCLI(result, status: 0, stdout: "\(path) \(rev) set 6\nlatest\n",
                      "§8.4 wait from the current rev, inclusive (attempt \(attempt))")
            return
        }
        XCTFail("§8.4 wait: every attempt raced with a pulse")
    }

    func testWaitTimeout() throws {
        let result = try doozer("wait", "-t", "300ms", "/\(unique("nothing"))")
        assertCLI(result, status: 2, stdout: "", stderr: "Error: wait timeout\n", "#123 wait -t 300ms")
        XCTAssertGreaterThanOrEqual(result.elapsed, 0.3, "#123 not before 300ms")
        XCTAssertLessThan(result.elapsed, 3, "#123 about 300ms")
        let fractional = try doozer("-t", ".2s", "wait", "/\(unique("nothing"))")
        assertCLI(fractional, status: 2, stdout: "", stderr: "Error: wait timeout\n", "-t .2s")
    }

    func testWaitBlocksUntilAWrite() throws {
        let path = "/\(unique("cli"))/later"
        let connection = try connection()
        let rev = try connection.rev()
        let waiter = try startDoozer(["-a", server.uri, "wait", "-r", "\(rev + 1)", path])
        pause(0.2)
        XCTAssertTrue(waiter.process.isRunning, "wait blocks while nothing matches")
        let set = try connection.mustSet(path, "now")
        let expected = Array("\(path) \(set) set 3\nnow\n".utf8)
        XCTAssertEqual(waiter.waitForOutput(count: expected.count), expected, "wait prints the record")
        waiter.process.waitUntilExit()
        XCTAssertEqual(waiter.process.terminationStatus, 0, "wait exits 0")
    }

    // MARK: 124 watch

    func testWatch() throws {
        let dir = "/\(unique("w"))"
        let connection = try connection()
        let start = try connection.rev() + 1
        let watcher = try startDoozer(["-a", server.uri, "watch", "-r", "\(start)", "\(dir)/**"])
        var expected: [UInt8] = []

        try connection.mustSet("/\(unique("other"))", "ignored")
        let first = try connection.mustSet("\(dir)/x", "multi\nline")
        expected += Array("\(dir)/x \(first) set 10\nmulti\nline\n".utf8)
        XCTAssertEqual(watcher.waitForOutput(count: expected.count), expected,
                       "#124 the first record is printed before the next write; stderr: \(watcher.stderr)")

        let second = try connection.mustSet("\(dir)/y/z", [0, 1, 2])
        expected += Array("\(dir)/y/z \(second) set 3\n".utf8) + [0, 1, 2, 10]
        XCTAssertEqual(watcher.waitForOutput(count: expected.count), expected, "#124 binary body")

        let deleted = try connection.del("\(dir)/x", rev: -1)
        XCTAssertNil(deleted.errCode)
        let delRev = try connection.wait("\(dir)/x", rev: first + 1).rev ?? 0
        expected += Array("\(dir)/x \(delRev) del 0\n\n".utf8)
        XCTAssertEqual(watcher.waitForOutput(count: expected.count), expected, "#124 delete record")

        pause(0.1)
        XCTAssertEqual(watcher.stdout, expected, "#124 nothing else")
        XCTAssertTrue(watcher.process.isRunning, "#124 watch never exits on its own")
        watcher.stop()
        XCTAssertEqual(watcher.stderr, "", "watch: no errors")
    }

    func testWatchNoOps() throws {
        let start = try connection().rev() + 1
        let watcher = try startDoozer(["-a", server.uri, "watch", "-r", "\(start)", "/"])
        XCTAssertNil(try connection().nop().errCode)
        let output = watcher.waitForOutput(count: 1)
        let text = String(decoding: output, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("/ ") && text.contains("  0\n\n"), "no-op records in watch: \(text.debugDescription)")
        watcher.stop()
    }

    // MARK: 125, 126: URIs and DOOZER_URI

    func testInvalidURI() throws {
        for uri in ["http://x", "doozer:?cn=x", "doozer?:ca=\(server.address)", "doozer:?"] {
            assertCLI(try doozerRaw(["-a", uri, "rev"]), status: 2, stdout: "", stderr: "Error: invalid uri\n",
                      "#125 -a \(uri)")
        }
        assertCLI(try doozerRaw(["rev"], environment: ["DOOZER_URI": "bogus"]), status: 2, stdout: "",
                  stderr: "Error: invalid uri\n", "#125 DOOZER_URI bogus")
    }

    // A bare host:port, as doozerd -a takes it, stands for the URI of that address.
    func testABareAddressIsTheURIOfThatAddress() throws {
        let rev = try connection().rev()
        let bare = try doozerRaw(["-a", server.address, "rev"])
        XCTAssertEqual(bare.status, 0, "\(bare)")
        XCTAssertGreaterThanOrEqual(Int64(String(decoding: bare.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                                    rev, "\(bare)")
        let fromEnvironment = try doozerRaw(["rev"], environment: ["DOOZER_URI": server.address])
        XCTAssertEqual(fromEnvironment.status, 0, "\(fromEnvironment)")
    }

    func testDoozerURIEnvironment() throws {
        let nowhere = "doozer:?ca=127.0.0.1:1"
        assertCLI(try doozerRaw(["self"], environment: ["DOOZER_URI": server.uri]), status: 0, stdout: nodeID,
                  "#126 DOOZER_URI selects the server")
        assertCLI(try doozerRaw(["-a", server.uri, "self"], environment: ["DOOZER_URI": nowhere]), status: 0,
                  stdout: nodeID, "#126 -a overrides DOOZER_URI")
        let refused = try doozerRaw(["-a", nowhere, "self"], environment: ["DOOZER_URI": server.uri])
        XCTAssertEqual(refused.status, 2, "#126 -a wins even when it cannot connect; \(refused.summary)")
        assertCLI(try doozerRaw(["self", "-a", server.uri], environment: ["DOOZER_URI": nowhere]), status: 0,
                  stdout: nodeID, "#126 -a after the command overrides DOOZER_URI")
        assertCLI(try doozerRaw(["self"], environment: ["DOOZER_URI": server.uri, "DOOZER_BOOT_URI": ""]),
                  status: 0, stdout: nodeID, "empty DOOZER_BOOT_URI is no boot URI")
        // A ca without a port gets 8046 (B21): nothing listens on 127.0.0.1:8046 on a fresh loopback host.
        let host = Loopback.freshHost()
        assertCLI(try doozerRaw(["-a", "doozer:?ca=\(host)", "rev"]), status: 2, stdout: "",
                  stderr: "Error: dial tcp \(host):8046: connect: connection refused\n", "B21 ca without a port: 8046")
    }
}
