/// Class/id words that mark page chrome, and the tokeniser that finds them in a class or id value.

/// Class/id words (or their prefixes, for longer words) that mark page chrome rather than the article.
private let boilerplateExact: Set<String> = [
    "nav", "ad", "ads", "adv", "hot", "tags", "tag", "links", "link", "dh", "fx", "bq", "xgwz", "xgxw", "top10",
    "sns", "rank", "gotop", "totop", "login", "foot", "ft", "copy", "bottom", "topbar", "weibo", "wx", "qr",
    "ewm", "reply", "replies", "pinglun", "pl", "footer", "header-nav", "search", "sitemap", "friend",
    // An author's profile card (`author-bio`: the column's blurb, post count) next to a short article.
    "bio",
]
private let boilerplatePrefixes: [String] = [
    "navbar", "navigation", "nav-", "menu", "footer", "breadcrumb", "crumb", "share", "sharing", "social",
    "related", "relate", "recommend", "comment", "copyright", "sidebar", "aside", "advert", "banner", "toolbar",
    "pager", "pagination", "friendlink", "qrcode", "daohang", "banquan", "fenxiang", "tuijian", "xiangguan",
    "dianji", "widget", "popup", "modal", "cookie", "subscribe", "newsletter", "sitenav", "topnav", "footnav",
    "hotnews", "hotlist", "ranking", "guanggao", "weixin", "wechat", "print", "dayin", "login", "jiathis", "bdshare",
    "bdsharebuttonbox", "sitemap", "youlian", "location", "position", "current",
    // Side columns under other names, profile cards, and report / wallet / tipping widgets: each can outweigh a
    // one-paragraph article on text volume.
    "rightbar", "leftbar", "rbar", "lbar", "avatar", "jubao", "wallet", "dashang", "reward",
]

/// Widget words: they name a control (share, print, QR code, position bar), and a page sometimes puts them on the
/// wrapper of the article itself, so they mark weakly (see `HTMLPage.clearMisnamedWrappers`).
private let weakExact: Set<String> = ["tags", "tag", "hot", "sns", "weibo", "wx", "qr", "ewm", "fx", "login", "search"]
private let weakPrefixes: Set<String> = [
    "share", "sharing", "social", "toolbar", "qrcode", "fenxiang", "widget", "popup", "modal", "weixin", "wechat",
    "print", "dayin", "login", "jiathis", "bdshare", "bdsharebuttonbox", "location", "position", "current",
    "subscribe", "cookie", "dialog",
]

private let boilerplateExactBytes: [[UInt8]] = boilerplateExact.map { Array($0.utf8) }
private let boilerplatePrefixBytes: [[UInt8]] = boilerplatePrefixes.map { Array($0.utf8) }
private let weakExactBytes: [[UInt8]] = weakExact.map { Array($0.utf8) }
private let weakPrefixBytes: [[UInt8]] = weakPrefixes.map { Array($0.utf8) }

/// How strongly a class/id/style marks an element as page chrome.
enum ChromeMark: Comparable {
    case none, weak, strong
}

/// `has-nav-bar`, `no-sidebar`, `with-comments`: a state modifier on a wrapper, not the thing itself.
private let stateModifiers: [[UInt8]] = ["has", "is", "no", "with", "show", "hide"].map { Array($0.utf8) }

/// The boilerplate words grouped by first letter, weak words first within each group: a class token is compared
/// only with the few words that start like it (every element's class and id go through here).
private let boilerplateWordsByInitial: [[(word: [UInt8], prefix: Bool, mark: ChromeMark)]] = {
    var table = [[(word: [UInt8], prefix: Bool, mark: ChromeMark)]](repeating: [], count: 128)
    let groups: [([[UInt8]], Bool, ChromeMark)] = [
        (weakExactBytes, false, .weak), (weakPrefixBytes, true, .weak),
        (boilerplateExactBytes, false, .strong), (boilerplatePrefixBytes, true, .strong),
    ]
    for (words, prefix, mark) in groups {
        for w in words where !w.isEmpty && w[0] < 128 { table[Int(w[0])].append((w, prefix, mark)) }
    }
    return table
}()

private func boilerplateWordMark(_ token: ArraySlice<UInt8>) -> ChromeMark {
    guard let first = token.first, first < 128 else { return .none }
    for entry in boilerplateWordsByInitial[Int(first)] {
        let w = entry.word
        if entry.prefix {
            if token.count >= w.count && token.prefix(w.count).elementsEqual(w) { return entry.mark }
        } else if w.count == token.count && token.elementsEqual(w) {
            return entry.mark
        }
    }
    return .none
}

/// Splits a class/id value into lowercase ASCII tokens on anything that is not a letter or digit, and on
/// camelCase; reports the strongest boilerplate word among the tokens (`has-nav-bar`-style modifiers excepted).
///
/// `tokens` and `bounds` are scratch space the caller keeps between calls (every class and id comes through here).
func boilerplateAttribute(
    _ value: UnsafePointer<UInt8>, tokens: inout [UInt8], bounds: inout [Range<Int>]
) -> ChromeMark {
    tokens.removeAll(keepingCapacity: true)
    bounds.removeAll(keepingCapacity: true)
    var start = 0
    var previousLower = false
    var i = 0
    func close() {
        if tokens.count > start { bounds.append(start..<tokens.count) }
        start = tokens.count
    }
    while value[i] != 0 {
        let c = value[i]
        let isUpper = c >= 0x41 && c <= 0x5A
        let isLower = c >= 0x61 && c <= 0x7A
        let isDigit = c >= 0x30 && c <= 0x39
        if isUpper || isLower || isDigit {
            if isUpper && previousLower { close() }
            tokens.append(isUpper ? c | 0x20 : c)
            previousLower = isLower
        } else {
            close()
            previousLower = false
        }
        i += 1
    }
    close()
    var mark = ChromeMark.none
    for (n, r) in bounds.enumerated() {
        if n > 0 {
            let previous = tokens[bounds[n - 1]]
            if stateModifiers.contains(where: { previous.elementsEqual($0) }) { continue }
        }
        mark = max(mark, boilerplateWordMark(tokens[r]))
        if mark == .strong { break }
    }
    return mark
}
