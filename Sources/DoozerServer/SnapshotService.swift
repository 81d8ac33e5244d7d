import DoozerNode
import DoozerConsensus
import DoozerSnapshot
import DoozerStore
import DoozerWire

/// A joiner's copy in progress on one connection: the tree pinned at revision R (copy on
/// write: later writes never change it) and the writer positioned at the next unit. Holds one
/// chunk's worth of memory at most.
struct SnapshotStream {
    let rev: Int64
    var writer: SnapshotWriter
    var nextUnit: Int32
}

extension Server {
    /// `Verb.snapshot` (not in the original): a joining node copies this node's state one unit
    /// per request, so the copy is paced by the joiner and never floods this node's output.
    /// Unit 0 (at rev 0) pins the current revision R and answers the consensus bootstrap at
    /// R; units 1… at R answer the snapshot stream — header, chunks, trailer (flags bit 0 on
    /// the last). A request for any unit of a revision still in history resumes there (after
    /// a broken connection); an older one is TOO_LATE and the joiner starts again.
    func serveSnapshot(_ request: RequestView, _ session: Session) {
        let tag = request.tag
        let unit = request.offset ?? 0
        if unit == 0 {
            guard let bootstrap = cluster.bootstrapState else {
                // This node is itself installing a newer state: its store lags its consensus.
                let detail: StaticString = "this node is catching up from a snapshot; copy from another member or again shortly"
                return detail.withUTF8Buffer { session.sendError(tag: tag, .other, detail: UnsafeRawBufferPointer($0)) }
            }
            let snapshot = store.current
            session.snapshotStream = SnapshotStream(rev: snapshot.rev, writer: SnapshotWriter(snapshot), nextUnit: 1)
            return respondUnit(PeerCodec.encode(bootstrap), rev: snapshot.rev, last: false, tag: tag, session)
        }
        let rev = request.rev ?? 0
        guard unit > 0 else { return session.sendError(tag: tag, .range) }
        if session.snapshotStream?.rev != rev || session.snapshotStream?.nextUnit != unit {
            guard case .snapshot(let snapshot) = store.snapshot(at: max(1, rev)), snapshot.rev == rev else {
                return session.sendError(tag: tag, .tooLate)
            }
            do {
                let writer = unit == 1 ? SnapshotWriter(snapshot)
                                       : try SnapshotWriter(snapshot, resumingAtChunk: Int(unit) - 2)
                session.snapshotStream = SnapshotStream(rev: rev, writer: writer, nextUnit: unit)
            } catch {
                return session.sendError(tag: tag, .range)
            }
        }
        do {
            guard let bytes = try session.snapshotStream?.writer.next() else {
                return session.sendError(tag: tag, .range)
            }
            session.snapshotStream?.nextUnit += 1
            let last = session.snapshotStream?.writer.isFinished ?? true
            if last { session.snapshotStream = nil }
            respondUnit(bytes, rev: rev, last: last, tag: tag, session)
        } catch {
            session.snapshotStream = nil
            logger.error("snapshot at rev \(rev) for connection \(session.token): \(error)")
            let detail: StaticString = "cannot encode this node's state"
            detail.withUTF8Buffer { session.sendError(tag: tag, .other, detail: UnsafeRawBufferPointer($0)) }
        }
    }

    /// Replaces the store with a member's state at a later revision R (this node fell behind
    /// what its peers keep). WAITs and parked reads that can no longer be answered from
    /// history are answered TOO_LATE (event streams of the web view are closed, their browsers
    /// reconnect); the cluster then continues from R + 1.
    package func install(_ snapshot: Snapshot) {
        for owner in store.install(snapshot) { answerTooLate(owner) }
        for rev in parkedReads.keys.sorted() where rev <= snapshot.rev {
            answerParkedReads(at: rev, from: rev == snapshot.rev ? snapshot : nil)
        }
        logger.notice("caught up from a snapshot at rev \(snapshot.rev)")
    }

    private func respondUnit(_ bytes: [UInt8], rev: Int64, last: Bool, tag: Int32?, _ session: Session) {
        bytes.withUnsafeBytes { value in
            var fields = ResponseFields()
            fields.tag = tag
            fields.flags = last ? 1 : 0
            fields.rev = rev
            fields.value = value
            session.send(fields)
        }
    }
}
