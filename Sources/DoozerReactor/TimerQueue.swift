/// Deadlines kept in a binary min-heap. Pure: the caller supplies the time.
public struct TimerQueue<Payload> {
    private var heap: [(deadline: Int64, order: UInt64, payload: Payload)] = []
    private var nextOrder: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { heap.isEmpty }
    public var earliestDeadline: Int64? { heap.first?.deadline }

    public mutating func schedule(at deadline: Int64, _ payload: Payload) {
        heap.append((deadline, nextOrder, payload))
        nextOrder &+= 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard earlier(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest payload whose deadline is at or before `now`.
    public mutating func popDue(now: Int64) -> Payload? {
        guard let first = heap.first, first.deadline <= now else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, earlier(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, earlier(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first.payload
    }

    private func earlier(_ a: (deadline: Int64, order: UInt64, payload: Payload),
                         _ b: (deadline: Int64, order: UInt64, payload: Payload)) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.order < b.order
    }
}
