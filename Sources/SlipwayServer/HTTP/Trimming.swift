extension StringProtocol {
    /// The text without `characters` at either end. By hand: Foundation's trimming bridges through
    /// NSString, a measurable cost on paths every request takes (bearer tokens, ETags).
    func trimmed(of characters: Set<Character>) -> SubSequence {
        var text = self[...]
        while let first = text.first, characters.contains(first) { text.removeFirst() }
        while let last = text.last, characters.contains(last) { text.removeLast() }
        return text
    }
}
