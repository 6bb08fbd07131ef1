/// Every item of a paginated list, fetching pages as the sequence is iterated.
public struct Paginated<Item: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Item
    /// Fetches the page after a token (nil for the first): its items and the next token.
    let fetch: @Sendable (String?) async throws -> ([Item], String?)

    public struct AsyncIterator: AsyncIteratorProtocol {
        let fetch: @Sendable (String?) async throws -> ([Item], String?)
        var buffer: [Item] = []
        var index = 0
        var token: String?
        var finished = false

        public mutating func next() async throws -> Item? {
            while index == buffer.count {
                if finished { return nil }
                let (items, next) = try await fetch(token)
                buffer = items
                index = 0
                token = next
                finished = next == nil
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fetch: fetch) }
}
