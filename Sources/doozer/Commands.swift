// The commands of §8.4: one table entry (name, arguments, summary, long help) and one small
// function each. Output is raw bytes written as soon as it is known.

import DoozerClient
import DoozerFlags
import DoozerSnapshot

struct Command: Sendable {
    let name: String
    let argSpec: String
    let arity: Int
    let summary: String
    let help: String
    /// Options only this command takes (after its name), besides the global ones.
    var defineFlags: @Sendable (inout FlagSet) -> Void = { _ in }
    let run: @Sendable (Session, [String]) throws(Failure) -> Void
}

enum Commands {
    static func named(_ name: String) -> Command? { all.first { $0.name == name } }

    /// Sorted by name: the usage table lists them in this order.
    static let all: [Command] = [
        Command(name: "add", argSpec: "<path>", arity: 1,
                summary: "add a key only if it isn't already set",
                help: """
                    Sets the body of the file at <path> only if it does not exist yet.

                    This is the same as "set <path> 0". The body is read from standard
                    input, to its end. If the file exists, nothing is changed and the
                    command fails with REV_MISMATCH (exit status 1).

                    Prints the new revision.

                    """,
                run: add),
        Command(name: "del", argSpec: "<path> <rev>", arity: 2,
                summary: "delete a file",
                help: """
                    Deletes the file at <path>.

                    Nothing is changed if <rev> is lower than the revision of the file
                    (REV_MISMATCH, exit status 1); a <rev> of -1 deletes whatever the
                    revision. Deleting a file that does not exist succeeds.

                    """,
                run: del),
        Command(name: "find", argSpec: "<path>", arity: 1,
                summary: "list files",
                help: """
                    Prints the tree rooted at <path>: <path> itself, then, for a directory,
                    every entry below it in sorted order, one full path per line.

                    The whole listing is read at one revision: the current one, or the
                    one given with -r. Errors (e.g. NOENT for a missing <path>) are
                    printed on stderr and do not change the exit status.

                    Options:
                      -l  long listing, one line per entry:
                            <rev> <len> <path>   for a file (its revision and length)
                            d <count> <path>     for a directory (its number of entries)

                    """,
                defineFlags: { $0.define("l", .boolean, usage: "long listing") },
                run: find),
        Command(name: "get", argSpec: "<path>", arity: 1,
                summary: "read a file",
                help: """
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

                    """,
                defineFlags: { $0.define("linear", .boolean, usage: "linearizable read") },
                run: get),
        Command(name: "help", argSpec: "<command>", arity: 1,
                summary: "provide detailed help on a command",
                help: "",
                run: help),
        Command(name: "nop", argSpec: "", arity: 0,
                summary: "consensus",
                help: """
                    Performs a consensus operation without changing the data store.

                    """,
                run: nop),
        Command(name: "rev", argSpec: "", arity: 0,
                summary: "show current revision",
                help: """
                    Prints the current revision of the data store.

                    """,
                run: rev),
        Command(name: "self", argSpec: "", arity: 0,
                summary: "identify a node",
                help: """
                    Prints the id of the node this client is connected to, without a
                    trailing newline.

                    """,
                run: selfID),
        Command(name: "set", argSpec: "<path> <rev>", arity: 2,
                summary: "write a file",
                help: """
                    Sets the body of the file at <path>.

                    The body is read from standard input, to its end. Nothing is changed
                    if <rev> is lower than the revision of the file (REV_MISMATCH, exit
                    status 1). A <rev> of -1 writes whatever the revision; 0 writes only
                    if the file does not exist yet.

                    Prints the new revision.

                    """,
                run: set),
        Command(name: "snapshot", argSpec: "save <file>", arity: 2,
                summary: "save a copy of the whole store to a file",
                help: """
                    Copies the state of the node this client is connected to (a member or
                    a slave) at one revision R into <file>, in the snapshot format (see
                    the README's "Backup and restore"); "doozerd -restore <file>" starts
                    a new cluster from it.

                    The copy is checked as it arrives and written to <file>.tmp, synced
                    to disk and only then renamed to <file>: <file> is either left as it
                    was or holds a complete snapshot. If R leaves the node's history
                    before the copy ends, it starts again at a newer revision.

                    Prints R.

                    """,
                run: snapshot),
        Command(name: "stat", argSpec: "<path>", arity: 1,
                summary: "print file status",
                help: """
                    Prints information about <path>.

                    For a directory, prints "d" and the number of entries; for a file,
                    its revision and its length in bytes. A missing <path> is an error.

                    """,
                run: stat),
        Command(name: "touch", argSpec: "<path>", arity: 1,
                summary: "update rev of a file",
                help: """
                    Updates the revision of the file at <path> without changing its body,
                    creating an empty file if it does not exist.

                    """,
                run: touch),
        Command(name: "wait", argSpec: "<glob>", arity: 1,
                summary: "wait for a change",
                help: """
                    Waits for the first change to a file matching <glob> at or after the
                    revision given with -r (default: the current revision, inclusive), and
                    prints it.

                    With -t <duration> (e.g. 500ms, 10s, 1m30s), gives up after that long
                    with the error "wait timeout".


                    """ + HelpText.globRules + "\n\n" + HelpText.recordFormat + "\n",
                run: wait),
        Command(name: "watch", argSpec: "<glob>", arity: 1,
                summary: "watch for a change",
                help: """
                    Prints every change to a file matching <glob>, starting at the
                    revision given with -r (default: the current revision, inclusive),
                    as it happens. Runs until interrupted.


                    """ + HelpText.globRules + "\n\n" + HelpText.recordFormat + "\n",
                run: watch),
    ]

    // MARK: - The commands

    static func add(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let body = try Failure.check(Terminal.readStdin())
        let rev = try Failure.call { () throws(DoozerError) in try client.set(arguments[0], rev: 0, body: body) }
        Terminal.out("\(rev)\n")
    }

    static func del(_ session: Session, _ arguments: [String]) throws(Failure) {
        let rev = try Failure.check(GoSyntax.parseInt64(arguments[1]))
        let client = try session.dial()
        try Failure.call { () throws(DoozerError) in try client.del(arguments[0], rev: rev) }
    }

    static func find(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let rev = try session.requestRev(client)
        let long = session.options.longListing
        client.walkTree(arguments[0], rev: rev, visit: { path, info in
            if !long {
                Terminal.out(path + "\n")
            } else if info.isDir {
                Terminal.out("d \(info.len) \(path)\n")
            } else {
                Terminal.out("\(info.rev) \(info.len) \(path)\n")
            }
            return true
        }, onError: { _, error in
            Terminal.err("\(error)\n")
        })
    }

    static func get(_ session: Session, _ arguments: [String]) throws(Failure) {
        let rev = session.options.rev == -1 ? nil : session.options.rev
        if session.options.linearizable, rev != nil {
            throw .local(LocalError("-linear reads the current state; it cannot be used with -r"))
        }
        let client = try session.dial()
        let (body, _) = try Failure.call { () throws(DoozerError) in
            if session.options.linearizable { return try client.get(arguments[0], consistency: .linearizable) }
            return try client.get(arguments[0], rev: rev)
        }
        Terminal.out(body)
    }

    static func help(_ session: Session, _ arguments: [String]) throws(Failure) {
        Terminal.out(HelpText.help(argv0: session.options.argv0, commandName: arguments[0]))
    }

    static func nop(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        try Failure.call { () throws(DoozerError) in try client.nop() }
    }

    static func rev(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let rev = try Failure.call { () throws(DoozerError) in try client.rev() }
        Terminal.out("\(rev)\n")
    }

    static func selfID(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let id = try Failure.call { () throws(DoozerError) in try client.selfID() }
        Terminal.out(id)
    }

    static func set(_ session: Session, _ arguments: [String]) throws(Failure) {
        let oldRev = try Failure.check(GoSyntax.parseInt64(arguments[1]))
        let client = try session.dial()
        let body = try Failure.check(Terminal.readStdin())
        let rev = try Failure.call { () throws(DoozerError) in try client.set(arguments[0], rev: oldRev, body: body) }
        Terminal.out("\(rev)\n")
    }

    static func snapshot(_ session: Session, _ arguments: [String]) throws(Failure) {
        guard arguments[0] == "save" else {
            throw .local(LocalError("unknown snapshot action \(GoSyntax.quote(arguments[0])) (want: snapshot save <file>)"))
        }
        let client = try session.dial()
        let path = arguments[1]
        var file: SnapshotFile.Writer? = nil
        var reader = SnapshotReader()
        do {
            let rev = try client.copySnapshot(begin: { _, _ in
                file?.discard()
                file = try SnapshotFile.Writer(path: path)
                reader = SnapshotReader()
            }, unit: { bytes in
                try reader.feed(bytes)
                try file?.append(bytes)
            })
            let snapshot = try reader.finish()
            guard snapshot.rev == rev else {
                throw LocalError("the node sent a snapshot of rev \(snapshot.rev) for rev \(rev)")
            }
            try file?.commit()
            Terminal.out("\(rev)\n")
        } catch let error as DoozerError {
            throw .client(error)
        } catch let error as SnapshotError {
            throw .local(LocalError("the node sent a bad snapshot (\(path) left unchanged): \(error)"))
        } catch let error as LocalError {
            throw .local(error)
        } catch {
            throw .local(LocalError("\(error)"))
        }
    }

    static func stat(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let (len, rev) = try Failure.call { () throws(DoozerError) in try client.stat(arguments[0]) }
        switch rev {
        case 0: throw .bare("No such file or directory: \(arguments[0])")
        case -2: Terminal.out("d \(len)\n")
        default: Terminal.out("\(rev) \(len)\n")
        }
    }

    static func touch(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let (body, rev) = try Failure.call { () throws(DoozerError) in try client.get(arguments[0]) }
        _ = try Failure.call { () throws(DoozerError) in try client.set(arguments[0], rev: rev, body: body) }
    }

    static func wait(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let rev = try session.requestRev(client)
        let nanoseconds = session.options.timeoutNanoseconds
        let timeout: Duration? = nanoseconds > 0 ? .nanoseconds(nanoseconds) : nil
        let event = try Failure.call { () throws(DoozerError) in
            try client.wait(arguments[0], rev: rev, timeout: timeout)
        }
        printRecord(event)
    }

    static func watch(_ session: Session, _ arguments: [String]) throws(Failure) {
        let client = try session.dial()
        let rev = try session.requestRev(client)
        try Failure.call { () throws(DoozerError) in
            try client.watch(arguments[0], from: rev) { event in
                printRecord(event)
                return true
            }
        }
    }

    /// `<path> <rev> <set|del> <len>\n<body>\n`, in one write.
    static func printRecord(_ event: DoozerEvent) {
        let kind = event.isSet ? "set" : event.isDel ? "del" : ""
        Terminal.out(Array("\(event.path) \(event.rev) \(kind) \(event.body.count)\n".utf8) + event.body + [0x0a])
    }
}
