import XCTest
@testable import DoozerStore
import DoozerTestSupport

final class PathSyntaxTests: XCTestCase {
    func testValidPaths() {
        // §3.1 and §12 item 95.
        for p in ["/", "/x", "/x/y", "/x/y-z", "/x/y.z", "/x/0", "/.", "/..", "/a/../b", "/ctl/node/ABC/addr",
                  "/Z9-.z"] {
            XCTAssertTrue(PathSyntax.isValid(p), p)
            XCTAssertTrue(PathSyntax.isValid(b(p)), p)
        }
    }

    func testInvalidPaths() {
        for p in ["", "x", "/x/", "/x//y", "//", "/x=", "/x y", "/x_y", "/a:b", "/é", "ctl/name", "/ctl/",
                  "/a*", "/a?", "/x\u{0}", "\\x", "/\t"] {
            XCTAssertFalse(PathSyntax.isValid(p), p)
        }
        XCTAssertFalse(PathSyntax.isValid([0x2F, 0xFF]))
        XCTAssertFalse(PathSyntax.isValid([0x2F, 0x80]))
    }
}

/// An independent, naive reference for §3.8: backtracking over the pattern elements.
func referenceGlob(_ pattern: String, _ path: String) -> Bool {
    enum El: Equatable { case lit(UInt8), one, star, any }
    var els: [El] = []
    let p = b(pattern)
    var i = 0
    while i < p.count {
        if p[i] == UInt8(ascii: "*") {
            if i + 1 < p.count && p[i + 1] == UInt8(ascii: "*") { els.append(.any); i += 2; continue }
            els.append(.star)
        } else if p[i] == UInt8(ascii: "?") {
            els.append(.one)
        } else {
            els.append(.lit(p[i]))
        }
        i += 1
    }
    let s = b(path)
    var memo: [Int: Bool] = [:]  // keeps the reference polynomial on long patterns
    func m(_ e: Int, _ k: Int) -> Bool {
        let key = e * (s.count + 1) + k
        if let r = memo[key] { return r }
        let r = step(e, k)
        memo[key] = r
        return r
    }
    func step(_ e: Int, _ k: Int) -> Bool {
        if e == els.count { return k == s.count }
        switch els[e] {
        case .lit(let c): return k < s.count && s[k] == c && m(e + 1, k + 1)
        case .one: return k < s.count && s[k] != 0x2F && m(e + 1, k + 1)
        case .star:
            var j = k
            while true {
                if m(e + 1, j) { return true }
                if j == s.count || s[j] == 0x2F { return false }
                j += 1
            }
        case .any:
            for j in k...s.count where m(e + 1, j) { return true }
            return false
        }
    }
    return m(0, 0)
}

final class GlobTests: XCTestCase {
    func check(_ pattern: String, matches: [String], rejects: [String], file: StaticString = #filePath, line: UInt = #line) {
        guard let g = Glob(pattern) else { return XCTFail("glob \(pattern) invalid", file: file, line: line) }
        for p in matches {
            XCTAssertTrue(g.matches(p), "\(pattern) should match \(p)", file: file, line: line)
            XCTAssertTrue(referenceGlob(pattern, p), "reference: \(pattern) ~ \(p)", file: file, line: line)
        }
        for p in rejects {
            XCTAssertFalse(g.matches(p), "\(pattern) should not match \(p)", file: file, line: line)
            XCTAssertFalse(referenceGlob(pattern, p), "reference: \(pattern) !~ \(p)", file: file, line: line)
        }
    }

    func testSpecTable() {
        check("/", matches: ["/"], rejects: ["/a", "//", ""])
        check("/a/b", matches: ["/a/b"], rejects: ["/a/c", "/a/b/", "/a/bc", "/a", "/a/b/c"])
        check("/a?", matches: ["/ab", "/ac"], rejects: ["/", "/a", "/abc", "/a/"])
        check("/a*", matches: ["/a", "/ab", "/abc"], rejects: ["/", "/a/", "/ba", "/a/b"])
        check("/a**", matches: ["/a", "/ab", "/abc", "/a/b", "/ab/c"], rejects: ["/", "/ba"])
        check("/*", matches: ["/a", "/ctl", "/x-y.z", "/"], rejects: ["/a/b", "/ctl/name"])
        check("/*/a", matches: ["/x/a"], rejects: ["/a", "/x/y/a"])
        check("/**", matches: ["/", "/a", "/a/b/c", "/ctl/err"], rejects: [])
        check("/a/**", matches: ["/a/b", "/a/b/c"], rejects: ["/a", "/ab", "/b/a"])
        check("/**/name", matches: ["/ctl/name", "/x/y/name"], rejects: ["/name", "/ctl/names"])
        check("/**name", matches: ["/ctl/name", "/name", "/xname"], rejects: ["/names", "/nam"])
        check("/***", matches: ["/", "/a", "/a/b"], rejects: [])
        check("/a***b", matches: ["/ab", "/a/b", "/axb", "/a/x/yb"], rejects: ["/a", "/b"])
        check("/a/*/c?d", matches: ["/a/b/cxd", "/a//cxd"], rejects: ["/a/b/c/d", "/a/b/cd", "/a/b/x/cxd"])
        check("/.", matches: ["/."], rejects: ["/x", "/.."])
        check("/-*", matches: ["/-", "/-a"], rejects: ["/a-"])
    }

    func testValidation() {
        for p in ["", "a", "bad", "/a/", "//", "/a//b", "/a b", "/a:b", "/a+", "/^a", "/a$", "/[a]", "/(a)",
                  "/é", "/a_b", "*", "**", "/a\n"] {
            XCTAssertNil(Glob(p), p)
        }
        for p in ["/", "/*", "/**", "/?", "/a/**", "/**/x", "/*?*", "/.-"] {
            XCTAssertNotNil(Glob(p), p)
        }
    }

    func testLiteralPrefix() {
        XCTAssertEqual(Array(Glob("/ctl/na*e")!.literalPrefix), b("/ctl/na"))
        XCTAssertEqual(Array(Glob("/a/b")!.literalPrefix), b("/a/b"))
        XCTAssertEqual(Array(Glob("/**")!.literalPrefix), b("/"))
        XCTAssertEqual(Array(Glob("/?")!.literalPrefix), b("/"))
    }

    func testAgainstReferenceRandomized() {
        var rng = SplitMix64(seed: 42)
        let patAtoms = ["a", "b", "/", "*", "**", "?", "***"]
        let pathAtoms = ["a", "b", "/", "ab", "ba"]
        for _ in 0..<4000 {
            var pat = "/"
            for _ in 0..<(1 + rng.below(5)) { pat += rng.pick(patAtoms) }
            var path = "/"
            for _ in 0..<rng.below(6) { path += rng.pick(pathAtoms) }
            let valid = !pat.contains("//") && !pat.hasSuffix("/") || pat == "/"
            XCTAssertEqual(Glob(pat) != nil, valid, pat)
            guard let g = Glob(pat) else { continue }
            XCTAssertEqual(g.matches(path), referenceGlob(pat, path), "\(pat) vs \(path)")
        }
    }

    func testLongPatternsUseTheWideMatcher() {
        // > 63 tokens exercises the scratch-buffer automaton.
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            var pat = "/"
            while pat.utf8.count < 70 { pat += rng.pick(["a", "*", "?", "/a", "**", "b"]) }
            if pat.hasSuffix("/") { pat += "a" }
            guard let g = Glob(pat) else { continue }
            var path = "/"
            for _ in 0..<rng.below(90) { path += rng.pick(["a", "b", "/", "aa"]) }
            let want = referenceGlob(pat, path)
            XCTAssertEqual(g.matches(path), want, "\(pat) vs \(path)")
        }
        let g = Glob("/" + String(repeating: "a", count: 100) + "*")!
        XCTAssertTrue(g.matches("/" + String(repeating: "a", count: 120)))
        XCTAssertFalse(g.matches("/" + String(repeating: "a", count: 99)))
        let h = Glob("/" + String(repeating: "?*", count: 40) + "b")!
        XCTAssertTrue(h.matches("/" + String(repeating: "a", count: 40) + "b"))
        XCTAssertFalse(h.matches("/" + String(repeating: "a", count: 39) + "b"))
    }

    /// Patterns of several words (states cross word boundaries, star runs collapse), against
    /// paths made from the pattern itself so that about half of them match.
    func testWideMatcherAgainstReference() {
        let seed: UInt64 = 0x5EED_0010
        var rng = SplitMix64(seed: seed)
        for round in 0..<400 {
            var pat = "/"
            let target = 60 + rng.below(260)
            while pat.utf8.count < target { pat += rng.pick(["a", "b", "*", "?", "/a", "**", "***", "ab"]) }
            if pat.hasSuffix("/") { pat += "a" }
            guard let g = Glob(pat) else { continue }
            var path = ""
            for c in pat {
                switch c {
                case "*": for _ in 0..<rng.below(3) { path += rng.pick(["a", "b", "/"]) }
                case "?": path += rng.pick(["a", "b", "c"])
                default: path.append(c)
                }
            }
            if rng.below(2) == 0, !path.isEmpty {   // break some of them
                var bytes = b(path)
                bytes[rng.below(bytes.count)] = rng.pick([UInt8(ascii: "a"), UInt8(ascii: "/"), UInt8(ascii: "c")])
                path = str(bytes)
            }
            XCTAssertEqual(g.matches(path), referenceGlob(pat, path), "seed \(seed) round \(round): \(pat) vs \(path)")
        }
    }

    func testPathologicalPatternsStayPolynomial() {
        let long = "/" + String(repeating: "a", count: 20000)
        let g = Glob("/*a*a*a*a*a*a*a*a*b")!
        XCTAssertFalse(g.matches(long))
        let h = Glob("/**a**a**a**a**a**a**b")!
        XCTAssertFalse(h.matches(long))
        let wide = Glob("/" + String(repeating: "*a", count: 40) + "b")!
        XCTAssertFalse(wide.matches(long))
        XCTAssertTrue(wide.matches(long + "b"))
    }
}

final class MutationTests: XCTestCase {
    func testEncoding() {
        XCTAssertEqual(Mutation.set("/a", rev: 0, body: "hello"), b("0:/a=hello"))
        XCTAssertEqual(Mutation.set("/x", rev: 123, body: "a=b"), b("123:/x=a=b"))
        XCTAssertEqual(Mutation.set("/ctl/node/ABC/applied", rev: -1, body: "123"), b("-1:/ctl/node/ABC/applied=123"))
        XCTAssertEqual(Mutation.delete("/x", rev: -1), b("-1:/x"))
        XCTAssertEqual(Mutation.delete("/", rev: 0), b("0:/"))
        XCTAssertEqual(Mutation.nop, b("nop:"))
        XCTAssertEqual(Mutation.delete(b("/m"), rev: Int64.min), b("-9223372036854775808:/m"))
        XCTAssertEqual(Mutation.set(b("/m"), rev: Int64.max, body: [0, 0xFF]), b("9223372036854775807:/m=") + [0, 0xFF])
    }

    func testDecoding() throws {
        XCTAssertEqual(try Mutation.decode(b("nop:")), .nop)
        XCTAssertEqual(try Mutation.decode(b("123:/x=a=b")), .set(rev: 123, path: 4..<6, body: 7..<10))
        XCTAssertEqual(try Mutation.decode(b("-1:/x")), .delete(rev: -1, path: 3..<5))
        XCTAssertEqual(try Mutation.decode(b("+5:/x=")), .set(rev: 5, path: 3..<5, body: 6..<6))
        XCTAssertEqual(try Mutation.decode(b("-9223372036854775808:/x")), .delete(rev: Int64.min, path: 21..<23))
        func fails(_ s: String, _ e: MutationError, line: UInt = #line) {
            XCTAssertThrowsError(try Mutation.decode(b(s)), line: line) { XCTAssertEqual($0 as? MutationError, e, line: line) }
        }
        fails("", .badMutation)
        fails("hello", .badMutation)
        fails("nop", .badMutation)
        fails("nop:x", .badRev)
        fails("x:/a", .badRev)
        fails(":/a", .badRev)
        fails("-:/a", .badRev)
        fails("1 :/a", .badRev)
        fails("9223372036854775808:/a", .badRev)
        fails("-9223372036854775809:/a", .badRev)
        fails("1:/a b=c", .badPath)
        fails("1:=c", .badPath)
        fails("1:", .badPath)
        fails("1:/x/", .badPath)
        fails("x:bad", .badRev)  // the rev is parsed before the path is checked
    }

    func testErrorTexts() {
        XCTAssertEqual(MutationError.revMismatch.text, "rev mismatch")
        XCTAssertEqual(MutationError.notDirectory.text, "not a directory")
        XCTAssertEqual(MutationError.isDirectory.text, "is a directory")
        XCTAssertEqual(MutationError.badPath.text, "bad path")
        XCTAssertEqual(MutationError.badMutation.text, "bad mutation")
        XCTAssertEqual(MutationError.badRev.text, "bad rev")
        for e in [MutationError.revMismatch, .notDirectory, .isDirectory, .badPath, .badMutation, .badRev] {
            XCTAssertEqual(e.textBytes, b(e.text))
        }
    }
}
