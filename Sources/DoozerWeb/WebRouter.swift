import DoozerStore

/// What a request asks the web view for, decided from its head alone.
public enum WebRoute: Sendable, Equatable {
    /// The viewer page for a directory path (ends in `/`; need not exist).
    case viewer(directory: [UInt8])
    /// A bundled asset.
    case asset(WebAsset)
    /// The event stream of a directory: `glob` is the directory followed by `**`.
    case events(directory: [UInt8], glob: Glob)
    /// Cluster, node and statistics as JSON.
    case cluster
    /// `/health`: the process serves (open, like `/ready`: probes carry no secret).
    case health
    /// `/ready`: the node hears its cluster and is caught up (see `NodeReadiness`).
    case ready
    /// A finished answer (errors, 401).
    case reject(HTTPResponse.Kind)

    public static func == (a: WebRoute, b: WebRoute) -> Bool {
        switch (a, b) {
        case (.viewer(let x), .viewer(let y)): x == y
        case (.asset(let x), .asset(let y)): x == y
        case (.events(let x, let g), .events(let y, let h)): x == y && g == h
        case (.cluster, .cluster), (.health, .health), (.ready, .ready): true
        case (.reject(let x), .reject(let y)): x == y
        default: false
        }
    }
}

extension HTTPResponse {
    /// The error answers a route can end in.
    public enum Kind: Sendable, Equatable {
        case notFound, methodNotAllowed, unauthorized, badGlob

        public var response: HTTPResponse {
            switch self {
            case .notFound:
                HTTPResponse(status: .notFound)
            case .methodNotAllowed:
                .text(.methodNotAllowed, "only GET and HEAD are served\n", headers: [("Allow", "GET, HEAD")])
            case .unauthorized:
                .text(.unauthorized, "this doozer needs its read secret: use it as the HTTP password or ?token=\n",
                      headers: [("WWW-Authenticate", "Basic realm=\"doozer\", charset=\"UTF-8\"")])
            case .badGlob:
                .text(.badRequest, "not a valid directory path\n")
            }
        }
    }
}

/// Maps a request head to a route (§7, with B18 fixed): pages and streams need read access,
/// the bundled assets and the probes (`/health`, `/ready`: no data, only a revision) do not;
/// only GET and HEAD are served; there is no `/debug/vars`.
/// Pure: owns nothing, does no I/O.
public enum WebRouter {
    public static let eventsPrefix = Array("/$events".utf8)
    public static let clusterPath = Array("/$cluster.json".utf8)
    public static let healthPath = Array("/health".utf8)
    public static let readyPath = Array("/ready".utf8)

    public static func route(_ request: HTTPRequestHead, readAllowed: Bool) -> WebRoute {
        guard request.method == "GET" || request.method == "HEAD" else { return .reject(.methodNotAllowed) }
        let path = request.path
        if let asset = WebAsset(path: path) { return .asset(asset) }
        if path == healthPath { return .health }
        if path == readyPath { return .ready }
        let route: WebRoute
        if path.starts(with: eventsPrefix + [UInt8(ascii: "/")]) {
            let directory = Array(path[eventsPrefix.count...])
            guard directory.last == UInt8(ascii: "/") else { return .reject(.notFound) }
            guard let glob = Glob(directory + Array("**".utf8)) else { return .reject(.badGlob) }
            route = .events(directory: directory, glob: glob)
        } else if path == clusterPath {
            route = .cluster
        } else if path.last == UInt8(ascii: "/") {
            route = .viewer(directory: path)
        } else {
            return .reject(.notFound)
        }
        return readAllowed ? route : .reject(.unauthorized)
    }
}
