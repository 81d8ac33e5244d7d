// What a running command needs: the options, one client dialled on first use, and the failures
// that end the program (printed as "Error: <text>", exit 1 for REV_MISMATCH and 2 otherwise).

import DoozerClient
import DoozerWire

final class Session {
    let options: Options
    private var client: DoozerClient?

    init(options: Options) { self.options = options }

    /// Connects as §9 says (the boot URI only when given), presenting the URI's secret.
    func dial() throws(Failure) -> DoozerClient {
        if let client { return client }
        let boot = options.bootURI.isEmpty ? nil : options.bootURI
        let uri = Session.uri(options.uri)
        let tls = options.tls
        let client = try Failure.call { () throws(DoozerError) in try DoozerClient(uri: uri, bootURI: boot, tls: tls) }
        self.client = client
        return client
    }

    /// A bare `host:port` (what `doozerd -a` takes) as the URI of that one address; anything
    /// else as given (a URI, or text the client refuses as the original did).
    static func uri(_ text: String) -> String {
        guard !text.hasPrefix("doozer:"), (try? DoozerConnection.host(of: text)) != nil else { return text }
        return "doozer:?ca=" + text
    }

    /// -r, or the current revision when -r is absent (-1).
    func requestRev(_ client: DoozerClient) throws(Failure) -> Int64 {
        if options.rev != -1 { return options.rev }
        return try Failure.call { () throws(DoozerError) in try client.rev() }
    }

    func close() { client?.close() }
}

enum Failure: Error, CustomStringConvertible {
    case client(DoozerError)
    case local(LocalError)
    /// Printed as is, without "Error: " (stat of a missing path).
    case bare(String)

    var description: String {
        switch self {
        case .client(let error): return "Error: \(error)"
        case .local(let error): return "Error: \(error)"
        case .bare(let text): return text
        }
    }

    /// B19: REV_MISMATCH exits 1, as the usage text promises; everything else 2.
    var status: Int32 {
        if case .client(let error) = self, error.code == .revMismatch { return 1 }
        return 2
    }

    static func call<T>(_ body: () throws(DoozerError) -> T) throws(Failure) -> T {
        do {
            return try body()
        } catch {
            throw .client(error)
        }
    }

    static func check<T>(_ result: Result<T, LocalError>) throws(Failure) -> T {
        switch result {
        case .success(let value): return value
        case .failure(let error): throw .local(error)
        }
    }
}
