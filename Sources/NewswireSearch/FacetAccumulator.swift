import NewswireModel

/// Facet counts by interned id.
struct FacetAccumulator {
    let fields: [FacetField]
    private var sourceCounts: [Int]
    private var monthCounts: [Int]
    private var personCounts: [Int]
    private let state: IndexState

    init(fields: [FacetField], state: IndexState) {
        self.fields = fields.isEmpty ? [] : Array(Set(fields)).sorted()
        self.state = state
        sourceCounts = fields.contains(.source) ? Array(repeating: 0, count: state.sources.count) : []
        monthCounts = fields.contains(.month) ? Array(repeating: 0, count: state.months.count) : []
        personCounts = fields.contains(.person) ? Array(repeating: 0, count: state.persons.count) : []
    }

    var isEmpty: Bool { fields.isEmpty }

    mutating func add(_ segment: Segment, _ doc: Int) {
        if !sourceCounts.isEmpty, segment.sourceIDs[doc] >= 0 { sourceCounts[Int(segment.sourceIDs[doc])] += 1 }
        if !monthCounts.isEmpty, segment.monthIDs[doc] >= 0 { monthCounts[Int(segment.monthIDs[doc])] += 1 }
        if !personCounts.isEmpty {
            for p in segment.persons(of: doc) { personCounts[Int(p)] += 1 }
        }
    }

    func facets(limit: Int) -> [Facet] {
        fields.map { field in
            let (counts, names): ([Int], [String])
            switch field {
            case .source: (counts, names) = (sourceCounts, state.sources.values)
            case .month: (counts, names) = (monthCounts, state.months.values)
            case .person: (counts, names) = (personCounts, state.persons.values)
            }
            let values = counts.indices.filter { counts[$0] > 0 }
                .sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : names[$0] < names[$1] }
            return Facet(
                field: field,
                counts: values.prefix(max(0, limit)).map { FacetCount(value: names[$0], count: counts[$0]) })
        }
    }
}
