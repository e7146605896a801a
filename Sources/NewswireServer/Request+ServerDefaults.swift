import NewswireProtocol

extension Request {
    /// PROTOCOL.md §5.3, §5.6, §5.11: zero means the server's default for a SEARCH's snippet length and facet
    /// limit and a RELATED's limit.
    func withServerDefaults() -> Request {
        switch self {
        case .search(var search):
            if search.snippetLength == 0 { search.snippetLength = Limits.defaultSnippetLength }
            if search.facetLimit == 0 { search.facetLimit = Limits.defaultFacetLimit }
            return .search(search)
        case .related(var related):
            if related.limit == 0 { related.limit = Limits.defaultRelatedLimit }
            return .related(related)
        default:
            return self
        }
    }
}
