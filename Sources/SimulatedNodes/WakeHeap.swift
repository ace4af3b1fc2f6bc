/// A binary min-heap of (due time, slot): the shard's timer queue. Entries are never removed early; a popped
/// entry whose slot has since been rescheduled (or is gone) is skipped by the caller.
struct WakeHeap {
    private var items: [(due: Duration, slot: Int)] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var first: (due: Duration, slot: Int)? { items.first }

    mutating func push(_ due: Duration, _ slot: Int) {
        items.append((due, slot))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (due: Duration, slot: Int)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].due < items[smallest].due { smallest = left }
            if right < items.count, items[right].due < items[smallest].due { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
