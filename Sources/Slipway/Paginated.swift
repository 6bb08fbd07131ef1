/// Every item of a paginated list, fetching pages as the sequence is iterated.
public struct Paginated<Item: Sendable>: AsyncSequence, Sendable {
    /// The type of each item the sequence yields.
    public typealias Element = Item
    /// Fetches the page after a token (nil for the first): its items and the next token.
    let fetch: @Sendable (String?) async throws -> ([Item], String?)

    /// Iterates the items, fetching the next page when the current one runs out.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let fetch: @Sendable (String?) async throws -> ([Item], String?)
        var buffer: [Item] = []
        var index = 0
        var token: String?
        var finished = false

        /// The next item, fetching a page first if needed; nil after the last page.
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

    /// Creates an iterator that starts at the first page.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(fetch: fetch) }
}
