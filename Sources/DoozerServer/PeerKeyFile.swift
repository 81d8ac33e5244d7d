import DoozerPeer
import DoozerSystem
import Foundation

/// The peer key file (`-peerkey`): read when the node starts and again on SIGHUP.
extension Server {
    /// The keys in the file at `path`; the error names the file and what is wrong, never a key.
    static func loadPeerKeys(_ path: String) throws(PeerKeyFileError) -> PeerKeys {
        guard access(path, R_OK) == 0 else { throw PeerKeyFileError(description: "peer key file \(path): \(Errno.current)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PeerKeyFileError(description: "peer key file \(path): not readable as UTF-8 text")
        }
        do {
            return try PeerKeys.parse(text)
        } catch {
            throw PeerKeyFileError(description: "peer key file \(path): \(error)")
        }
    }

    /// SIGHUP: the peer keys again (a rotation); a file that does not load keeps the old keys.
    func reloadPeerKeys() {
        guard let path = configuration.peerKeyPath else { return }
        do {
            cluster.transport.replaceKeys(try Server.loadPeerKeys(path))
            logger.info("peer key: reloaded \(path)")
        } catch {
            logger.error("peer key: reload failed, keeping the previous keys: \(error)")
        }
    }
}

struct PeerKeyFileError: Error, CustomStringConvertible {
    let description: String
}
