import NewswireModel

/// Metadata from `<meta>` tags, JSON-LD and `<time>`: the most reliable source when a page has it.
struct StructuredMetadata {
    var headline: String?
    var published: DateMatch?
    var authors: [String] = []
    var publisher: String?
    var siteName: String?
    var url: String?
    var metaAuthor: String?
    var timeElement: DateMatch?
    var modified: DateMatch?
    /// What the page says its article opens with or is about: og/twitter/plain description metas, JSON-LD
    /// `description` and `articleBody`. A hint for body selection only.
    var descriptions: [String] = []

    private static let publishedKeys: [String] = [
        "article:published_time", "og:article:published_time", "og:published_time", "datepublished", "pubdate",
        "publishdate", "publish_date", "publishtime", "publish-date", "dc.date.issued", "dc.date", "dcterms.created",
        "sailthru.date", "parsely-pub-date", "firstpublishedtime", "og:release_date", "date", "created", "releasedate",
    ]

    private static let modifiedKeys: [String] = [
        "article:modified_time", "og:updated_time", "datemodified", "dateupdate", "lastmodifiedtime", "last-modified",
    ]

    init(page: HTMLPage) {
        var metas: [String: String] = [:]
        for (k, v) in page.metas where metas[k] == nil { metas[k] = v }
        for key in Self.publishedKeys {
            if let v = metas[key], let d = DateScanner.scan(v).first {
                published = d
                break
            }
        }
        if published == nil {
            // Publishers coin their own keys (`apub:time`, `publishedDate`, `pub_time`): any key naming
            // publication and a time or date.
            for (k, v) in page.metas
            where (k.containsBytes("publish") || k.containsBytes("pub:") || k.containsBytes("pub_") || k.hasPrefix("pub"))
                && !k.containsBytes("publisher")
            {
                if let d = DateScanner.scan(v).first {
                    published = d
                    break
                }
            }
        }
        for key in Self.modifiedKeys {
            if let v = metas[key], let d = DateScanner.scan(v).first {
                modified = d
                break
            }
        }
        if let a = metas["author"] ?? metas["article:author"] ?? metas["dc.creator"], !a.containsBytes("http") {
            metaAuthor = a.trimmingWhitespace()
        }
        // Scholarly and publisher templates: one `citation_author` meta per person, each a whole name.
        for (k, v) in page.metas where k == "citation_author" || k == "dc.contributor" {
            let name = v.trimmingWhitespace()
            if !name.isEmpty, !authors.contains(name) { authors.append(name) }
        }
        // The older form: one `citation_authors` meta listing everyone, separated by semicolons (`赵  培`: a
        // two-character name spaced apart for layout is one name).
        for (k, v) in page.metas where k == "citation_authors" {
            let names =
                v.unicodeScalars.allSatisfy(\.isASCII)
                ? v.split(separator: ";").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
                : People.splitByline(Text.normalizeSpaces(Text.scalars(v)))
            for name in names where !authors.contains(name) { authors.append(name) }
        }
        for key in ["og:description", "description", "twitter:description"] {
            if let d = metas[key], !descriptions.contains(d) { descriptions.append(d) }
        }
        headline = metas["og:title"].map { $0.trimmingWhitespace() }
        siteName = metas["og:site_name"].map { $0.trimmingWhitespace() }
        url = metas["og:url"]
        for s in page.timeElements {
            if let d = DateScanner.scan(s).first {
                timeElement = d
                break
            }
        }
        for json in page.jsonLD { readJSONLD(json) }
        if let c = page.canonical, c.hasPrefix("http") { url = c }
    }

    private static let articleTypes: Set<String> = [
        "newsarticle", "article", "blogposting", "reportagenewsarticle", "analysisnewsarticle", "webpage",
        "socialmediaposting", "liveblogposting", "scholarlyarticle", "techarticle", "report", "opinionnewsarticle",
    ]

    private mutating func readJSONLD(_ json: String) {
        guard let object = JSONValue.parse(json) else { return }
        var queue: [JSONValue] = [object]
        while let item = queue.popLast() {
            if case .array(let array) = item {
                queue.append(contentsOf: array.reversed())
                continue
            }
            guard case .object = item else { continue }
            if let graph = item["@graph"] { queue.append(graph) }
            var types: [String] = []
            switch item["@type"] {
            case .string(let t)?: types = [t.lowercased()]
            case .array(let ts)?: types = ts.compactMap { $0.string?.lowercased() }
            default: break
            }
            guard types.contains(where: { Self.articleTypes.contains($0) }) else { continue }
            let isWebPage = types == ["webpage"]
            if headline == nil || !isWebPage, let h = item["headline"]?.string ?? item["name"]?.string {
                headline = h.trimmingWhitespace()
            }
            if let d = item["datePublished"]?.string.flatMap({ DateScanner.scan($0).first }),
                published == nil || !isWebPage
            {
                published = d
            }
            if authors.isEmpty { authors = Self.names(item["author"]) }
            if publisher == nil, !isWebPage { publisher = Self.names(item["publisher"]).first }
            if url == nil, let u = item["url"]?.string, u.hasPrefix("http") { url = u }
            for key in ["articleBody", "description"] {
                if let d = item[key]?.string, !descriptions.contains(d) { descriptions.append(d) }
            }
        }
    }

    private static func names(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let s)?:
            return People.splitByline(Text.scalars(s))
        case .object?:
            return (value?["name"]?.string).map { [$0.trimmingWhitespace()] } ?? []
        case .array(let a)?:
            return a.flatMap { names($0) }
        default:
            return []
        }
    }

    /// The headline from `<title>`: the site name after ` - `, `_`, `|`, `--`, `—` removed.
    static func cleanTitle(_ raw: String) -> String {
        let s = Text.normalizeSpaces(Text.scalars(raw))
        let separators: [Scalars] = [" - ", "_", "|", "--", " — ", "—", "｜", " – ", "－"].map { Text.scalars($0) }
        var parts: [Scalars] = [s]
        for sep in separators {
            parts = parts.flatMap { part -> [Scalars] in
                var out: [Scalars] = []
                var start = 0
                var i = 0
                while i + sep.count <= part.count {
                    if Text.hasPrefix(part, sep, at: i) {
                        out.append(Array(part[start..<i]))
                        i += sep.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                out.append(Array(part[start...]))
                return out
            }
        }
        let trimmed = parts.map { Text.trimmed($0[...]) }.filter { !$0.isEmpty }
        guard let first = trimmed.first else { return Text.string(s) }
        // The headline is the first part unless it is clearly shorter than another (a section-first title).
        if let longest = trimmed.max(by: { $0.count < $1.count }), first.count * 3 < longest.count {
            return Text.string(longest)
        }
        return Text.string(first)
    }
}
