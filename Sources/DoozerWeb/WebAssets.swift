/// The files the viewer page loads, bundled in the binary so the page needs no other host
/// (B18): a dependency-free script and a stylesheet. Pure constants.
public enum WebAsset: Sendable, Equatable {
    case script, stylesheet

    /// The asset served at `path`, if any.
    public init?(path: [UInt8]) {
        switch path {
        case Array("/$main.js".utf8): self = .script
        case Array("/$main.css".utf8): self = .stylesheet
        default: return nil
        }
    }

    public var contentType: String {
        switch self {
        case .script: "application/javascript; charset=utf-8"
        case .stylesheet: "text/css; charset=utf-8"
        }
    }

    public var text: String {
        switch self {
        case .script: WebAsset.scriptText
        case .stylesheet: WebAsset.stylesheetText
        }
    }

    public var response: HTTPResponse {
        HTTPResponse(status: .ok, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }

    /// The viewer script: follows `/$events<dir>` with EventSource and keeps a table of the
    /// files under the directory sorted by path; polls `/$cluster.json` for the stats panel and
    /// the member and slave lists. Only ever sets `textContent`, never markup.
    static let scriptText = #"""
    (function () {
      "use strict";
      var root = document.body.getAttribute("data-path") || "/";
      var token = new URLSearchParams(window.location.search).get("token");
      function withToken(url) {
        return token === null ? url : url + "?token=" + encodeURIComponent(token);
      }
      function byId(id) { return document.getElementById(id); }
      function setText(id, text) { var e = byId(id); if (e) { e.textContent = String(text); } }
      function setStatus(text) { var e = byId("status"); e.textContent = text; e.className = text; }

      var tbody = byId("tree").tBodies[0];
      var rows = {};   // full path -> <tr>
      var keys = [];   // full paths, sorted

      function fullPath(relative) {
        return root === "/" ? relative : root.slice(0, -1) + relative;
      }
      function indexOf(path) {
        var lo = 0, hi = keys.length;
        while (lo < hi) {
          var mid = (lo + hi) >> 1;
          if (keys[mid] < path) { lo = mid + 1; } else { hi = mid; }
        }
        return lo;
      }
      function cell(className, text) {
        var td = document.createElement("td");
        td.className = className;
        td.textContent = text;
        return td;
      }
      function upsert(path, rev, body, live) {
        var tr = rows[path];
        if (!tr) {
          tr = document.createElement("tr");
          tr.setAttribute("data-path", path);
          tr.appendChild(cell("path", path));
          tr.appendChild(cell("rev", ""));
          tr.appendChild(cell("value", ""));
          var at = indexOf(path);
          tbody.insertBefore(tr, at < keys.length ? rows[keys[at]] : null);
          keys.splice(at, 0, path);
          rows[path] = tr;
        }
        tr.cells[1].textContent = String(rev);
        tr.cells[2].textContent = body;
        if (live) {
          tr.classList.remove("flash");
          void tr.offsetWidth;
          tr.classList.add("flash");
        }
      }
      function remove(path) {
        var tr = rows[path];
        if (!tr) { return; }
        tbody.removeChild(tr);
        keys.splice(indexOf(path), 1);
        delete rows[path];
      }
      function clear() {
        while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
        rows = {};
        keys = [];
      }

      var source = null;
      function connect() {
        setStatus("connecting");
        source = new EventSource(withToken("/$events" + encodeURI(root)));
        source.onopen = function () { clear(); setStatus("open"); };
        source.onmessage = function (message) {
          var event;
          try { event = JSON.parse(message.data); } catch (e) { return; }
          if (event.Rev === -3) { return; }                      // no-op
          if (event.Seqn === 0 && event.Path === "") { return; } // directory does not exist
          var path = fullPath(event.Path);
          if (event.Seqn > 0 && event.Rev === 0) { remove(path); return; }
          upsert(path, event.Rev, event.Body, event.Seqn > 0);
          setText("stat-rev", Math.max(Number(byId("stat-rev").textContent) || 0, event.Seqn));
        };
        source.onerror = function () {
          setStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
          if (source.readyState === EventSource.CLOSED) { window.setTimeout(connect, 2000); }
        };
      }

      function fillNodes(id, nodes) {
        var body = byId(id).tBodies[0];
        while (body.firstChild) { body.removeChild(body.firstChild); }
        nodes.forEach(function (node) {
          var tr = document.createElement("tr");
          var idCell = document.createElement("td");
          var code = document.createElement("code");
          code.textContent = node.Id;
          idCell.appendChild(code);
          tr.appendChild(idCell);
          tr.appendChild(cell("addr", node.Addr));
          tr.appendChild(cell("applied", node.Applied));
          body.appendChild(tr);
        });
      }
      function poll() {
        fetch(withToken("/$cluster.json"), { cache: "no-store" })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (doc) {
            if (!doc) { return; }
            setText("role", doc.Role);
            setText("stat-rev", doc.Stats.Rev);
            setText("stat-connections", doc.Stats.ClientConnections);
            setText("stat-requests", doc.Stats.RequestsPerSecond);
            setText("stat-writes", doc.Stats.WritesPerSecond);
            setText("stat-streams", doc.Stats.EventStreams);
            setText("stat-majority", doc.Stats.Majority);
            fillNodes("members", doc.Members);
            fillNodes("slaves", doc.Slaves);
          })
          .catch(function () {})
          .then(function () { window.setTimeout(poll, 1000); });
      }

      connect();
      poll();
    })();

    """#

    static let stylesheetText = """
    body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; background: #fcfcfc; }
    h1 { font-size: 1.4em; margin: .8em 0 .2em; }
    h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
    a { color: #0a58a8; text-decoration: none; }
    a:hover { text-decoration: underline; }
    .crumbs a { margin-right: .1em; }
    #self { margin: 0 0 1em; color: #555; }
    #status { padding: 0 .4em; border-radius: 3px; background: #eee; }
    #status.open { background: #d4f5d4; }
    #status.reconnecting, #status.closed { background: #f8d7d7; }
    main { display: grid; grid-template-columns: minmax(14em, 20em) 1fr; gap: 0 2em; }
    #tree-panel { grid-column: 1 / -1; }
    table { border-collapse: collapse; }
    th, td { text-align: left; padding: .15em .6em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
    #stats th { font-weight: normal; color: #555; }
    #stats td { text-align: right; font-variant-numeric: tabular-nums; }
    #tree { width: 100%; font-family: ui-monospace, monospace; }
    #tree td.rev { color: #777; text-align: right; }
    #tree td.value { white-space: pre-wrap; word-break: break-all; }
    tr.flash { animation: flash 1.5s ease-out; }
    @keyframes flash { from { background: #fff3a8; } to { background: transparent; } }

    """
}
