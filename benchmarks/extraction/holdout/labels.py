#!/usr/bin/env python3
"""Builds manifest.jsonl for the held-out pages from hand-made labels.

Each label was written by reading the page (its HTML and visible text), before any extractor ran on it:
  start / end  the first and last words of the article text as a reader sees it; gt_body is the page's visible
               text from the first `start` to the first `end` after it (inclusive). An end written "^X" stops
               just before X (used where the article runs straight into a credit line).
  date         publication date (and time, to the minute or second, when the page shows one) near the headline
  author       people credited for the article: reporters/authors; editors only when nobody else is credited
               (the "编辑/责任编辑 is the only credited person" case); UNKNOWN when nobody is, or only an
               organisation, an account id or a relative date is shown.
The page text is the visible text of the document (no <head>) with scripts, styles and comments removed and a line break at every
block element. usage: python3 benchmarks/extraction/holdout/labels.py  (needs lxml)
"""
import json, os, re, sys
import lxml.html

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
         "article", "blockquote", "pre", "header", "footer", "dd", "dt", "td", "th", "hr", "center", "form"}

# id, file, start, end, date, author, kind
LABELS = [
    ("ho-001", "news-portal-1.html", "（原标题：多地项目连环爆雷", "这需要龙湖给投资者作一个交代。", "2019-9-7 13:43:45", "杨倩", "news, editor-only credit"),
    ("ho-002", "news-portal-2.html", "（原标题：姚明对周琦说了啥", "外加2次抢断、2记盖帽。", "2019-9-7 09:59:22", "杜硕", "news, editor-only credit"),
    ("ho-003", "news-portal-3.html", "（原标题：单项奖金100万美元", "使我们的国家更安全，人民的生活更幸福!”", "2019-9-8 00:20:15", "荀建国", "news, editor-only credit"),
    ("ho-004", "news-portal-4.html", "（原标题：“救命啊SOS”纸团从天而降", "不应该强迫孩子做他不喜欢做的事情。", "2019-9-9 16:19:28", "罗崇纬", "news"),
    ("ho-005", "news-portal-5.html", "（原标题：", "不断提高疫情防控的科学性、精准性、针对性。", "2020-2-29 18:34:31", "李曦", "news"),
    ("ho-006", "self-media-1.html", "下周一，", "^来源：无锡交警", "2019-5-17", "UNKNOWN", "self-media account, short lines, gb2312"),
    ("ho-007", "self-media-2.html", "英国汉普郡贝辛斯托克的一位女士", "她还将飞往埃及参加国际决赛。", "2019-10-8 12:00", "加拿大必读", "self-media, account handle as author"),
    ("ho-008", "self-media-3.html", "IT之家9月30日消息", "有年轻网民表示“没见过也没用过”。", "2019-9-30 22:46", "UNKNOWN", "self-media, short"),
    ("ho-009", "self-media-4.html", "前段时间，在某平台举办的", "只为传播中华文化。", "2020-1-14 17:58", "八卦大相公", "self-media, account handle as author"),
    ("ho-010", "local-paper-1.html", "为持续推动金融消费者教育", "^(文/图 刘玺东", "2019-9-23 14:34:05", "刘玺东 易赛楠", "local paper blog theme, credit line at end"),
    ("ho-011", "city-news-1.html", "长江网10月4日讯", "（资料来源：参考消息、海外网等）", "2020-10-4 20:30", "陈智", "city news"),
    ("ho-012", "agency-press-1.html", "2012年6月24日", "下面，我愿意回答大家的提问。", "2012-6-24", "UNKNOWN", "agency press conference, short lines"),
    ("ho-013", "tech-blog-1.html", "2014年8月22日，由北京知道创宇", "余弦骄傲地说道。", "2014-8-24 21:30", "魏星", "tech blog portal, author in header"),
    ("ho-014", "tech-trade-1.html", "刚刚，在阿里2019云栖大会上", "都做到。未来，阿里成为软硬件一体化协同发展的公司。", "2019-9-25", "Demi Xia", "trade site, junk author token + editor"),
    ("ho-015", "game-news-1.html", "《逆水寒》每周的版本更新", "所以本周新增了一个“你清醒一下”的花哨动作。”", "2019-9-5 11:10", "棒棒不是糖", "game news, 作者:未知 + editor"),
    ("ho-016", "society-1.html", "5月10-12日，2019年中国人文地理学术年会", "充分展示了人文地理学的最新研究成果和学科发展盛况。", "2019-5-18", "UNKNOWN", "academic society notice"),
    ("ho-017", "opinion-portal-1.html", "9月3日，在第二届全球IC企业家大会", "封测则有30%由外资以及台资在大陆的企业贡献。", "2019-9-7 15:10:53", "刘响", "news with long teaser feed"),
    ("ho-018", "gov-notice-1.html", "1-10月，全县固定资产投资完成246.79亿元", "总体全县投资结构趋稳趋优。（德清县发改局）", "2016-11-22", "UNKNOWN", "government notice, short"),
    ("ho-019", "finance-1.html", "据财联社9月26日消息", "形成相邻城市间基本实现“1.5小时交通圈”。", "2019-9-26 10:56:28", "UNKNOWN", "very short article, long page"),
    ("ho-020", "column-1.html", "执笔/叨叨姐", "自信一点，理性一点，可以吗。", "2020-6-5 20:35", "叨叨姐 胡一刀 李小飞刀", "column, pen-name list"),
    ("ho-021", "portal-2-1.html", "澎湃新闻记者 段彦超 廖艳", "（实习生王金茹对此文亦有贡献）", "2019-11-25 16:04:30", "段彦超 廖艳", "news, byline in first line"),
    ("ho-022", "portal-2-2.html", "2020年，因为疫情影响", "它就是长春！", "2020-9-11 18:05", "刘斌", "advertorial, editor-only credit"),
    ("ho-023", "stock-blog-1.html", "联合国贸发会议发布了", "全球贸易增长也将严重减缓。", "2019-9-26 10:09:11", "UNKNOWN", "tiny article (~150 chars) among feeds"),
    ("ho-024", "repost-blog-1.html", "冒充银行经理来电骗事主", "^作者：余毅菁", "2019-9-11", "余毅菁 向雪妮", "repost blog, hidden original-title line, teaser list"),
    ("ho-025", "gov-resolution-1.html", "全国人民代表大会常务委员会", "批准2007年末国债余额限额调整为53365.53亿元。", "UNKNOWN", "UNKNOWN", "government resolution, no publication date shown"),
    ("ho-026", "party-paper-1.html", "父亲的教诲像一盏灯", "字里行间都是对儿子的爱。", "2019-6-15 08:18", "汤诗瑶 丁涛", "culture, multi-page, GB2312, editor-only credit"),
    ("ho-027", "portal-3-1.html", "划重点：", "第三方数据行业的整顿仍将持续。", "2019-9-23 07:48", "UNKNOWN", "long feature, GB2312"),
    ("ho-028", "portal-3-2.html", "潘振声女儿马莉表示", "扬子晚报记者 张楠", "2019-9-7 21:30", "张楠", "self-media on portal, reporter at end"),
    ("ho-029", "topic-digest-1.html", "根据运营商内部人士透露", "这意味着运营商无法对用户购买 5G 手机直接进行补贴。", "UNKNOWN", "UNKNOWN", "topic digest: one summary paragraph + linked sources"),
    ("ho-030", "gov-portal-1.html", "图为山西品牌丝路行", "南美站活动将先后在巴西、乌拉圭、阿根廷举行。（张巨峰）", "2019-9-18 06:23", "张巨峰", "provincial government portal news"),
    ("ho-031", "portal-4-1.html", "新京报快讯（记者 裴剑飞）", "避免非正常渠道购票带来的风险。", "2018-12-28 19:55", "裴剑飞", "news, byline in parentheses"),
    ("ho-032", "portal-4-2.html", "原标题：快讯！陈同佳刑满出狱", "陈同佳上车离开了现场。", "2019-10-23 09:05", "吴金明", "breaking news, video block, editor-only"),
    ("ho-033", "securities-1.html", "证券时报e公司讯", "拟1079.6万元收购控股子公司日本伊戈尔少数股权。", "2019-9-26 12:11", "李在山", "flash news, text without <p>"),
    ("ho-034", "university-1.html", "《中华人民共和国监察法》是为了推进", "《中华人民共和国行政监察法》同时废止。", "2018-5-17", "UNKNOWN", "law text on a university site, short lines, table layout"),
    ("ho-035", "gov-account-1.html", "本文原标题：", "开始搓搓手了！！！", "2019-8-13 14:07", "UNKNOWN", "government account post, <br> short lines"),
    ("ho-036", "portal-5-1.html", "此前，发烧、咳嗽被认为是", "因此加入新的症状，对疾控至关重要。", "2020-6-6 10:08", "贺梨萍", "science news, reporter under headline"),
    ("ho-037", "aggregator-1.html", "8岁儿子在四川海螺沟景区失联的第32天", "采写：南都见习记者 林子沛", "2019-9-9 16:01:46", "林子沛", "aggregator, comments below"),
    ("ho-038", "aggregator-2.html", "综合消息，近日，较强冷空气", "雨天出行注意交通安全。", "2019-11-25 10:37:31", "UNKNOWN", "aggregator"),
    ("ho-039", "wechat-1.html", "今天凌晨，三星在美国旧金山举行发布会", "拥有黑、金、紫三色可选。", "UNKNOWN", "UNKNOWN", "WeChat-style article, relative date"),
    ("ho-040", "wechat-2.html", "摄影：产品经理", "确保始终增加一条日期数据。", "UNKNOWN", "kingname", "WeChat-style blog post with code, relative date"),
    ("ho-041", "fund-digest-1.html", "收盘播报", "债券资金使用情况是良好的。", "2019-9-26 15:10", "UNKNOWN", "news digest of <br> lines"),
    ("ho-042", "agency-1.html", "新华社巴黎12月9日电", "总理菲利普将于11日宣布退休制度改革的总体架构。", "2019-12-10 07:57:40", "唐霁", "agency news"),
    ("ho-043", "district-1.html", "2019年2月27日下午，佛山顺德区", "为中山经济发展提供创新驱动力。", "2019-3-6", "龙慧", "district office news, table layout, 发布日期 after body"),
    ("ho-044", "hospital-1.html", "本站讯（职工通讯员 李琴雯 刘会）", "提高医院的药学服务水平。", "2019-10-31 23:00", "李琴雯 刘会", "hospital news, 作者: is a department"),
    ("ho-045", "agency-press-2.html", "元旦佳节，当千家万户", "^（责任编辑：周雁）", "2021-1-5", "周雁", "agency news, rendered page with layout attributes"),
    ("ho-046", "tech-news-1.html", "这个月底，国内还有一次重要的航天发射任务", "上升器四部分组成。", "2020-11-23 10:22:14", "宪瑞", "tech news, 作者/编辑 same person"),
]


def page_text(path):
    raw = open(path, "rb").read()
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError:
        html = raw.decode("gb18030", "replace")
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)
    html = re.sub(r"(?i)</(body|html)\s*>", "", html)  # as browsers do: content after </html> still shows
    doc = lxml.html.document_fromstring(html)
    for bad in doc.xpath("//script|//style|//noscript|//template|//comment()|//head|//title"):
        if bad.getparent() is not None:
            bad.drop_tree()
    out = []

    def walk(el):
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in BLOCK:
            out.append("\n")
        if el.text:
            out.append(el.text)
        for ch in el:
            walk(ch)
            if ch.tail:
                out.append(ch.tail)
        if tag in BLOCK:
            out.append("\n")

    walk(doc)  # the whole document: a few pages carry stray content outside <body>
    text = "".join(out).replace("\u00a0", " ").replace("\u3000", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", l).strip() for l in text.split("\n")]
    return "\n".join(l for l in lines if l)


def cut(text, start, end, pid):
    i = text.find(start)
    if i < 0:
        sys.exit(f"{pid}: start {start!r} not in page text")
    stop_before = end.startswith("^")
    e = end[1:] if stop_before else end
    j = text.find(e, i + len(start) - 1)
    if j < 0:
        sys.exit(f"{pid}: end {end!r} not found after start")
    return text[i:j] if stop_before else text[i:j + len(e)]


def label_row(pid, fname, body, date, author, kind):
    """One manifest row (the scorer's fields); with --check, prints the body's length and ends to eyeball."""
    if "--check" in sys.argv:
        print(f"{pid} {len(body):6d} | {body[:50]!r} ... {body[-50:]!r}")
    return {"id": pid, "file": f"pages/{fname}", "gt_body": body, "gt_date": date, "gt_author": author, "kind": kind}


def write_manifest(directory, rows):
    with open(os.path.join(directory, "manifest.jsonl"), "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pages labelled", file=sys.stderr)


def main():
    rows = []
    for pid, fname, start, end, date, author, kind in LABELS:
        path = os.path.join(HERE, "pages", fname)
        if not start or not end:
            if "--check" in sys.argv:
                print(f"{pid} INCOMPLETE")
            continue
        body = cut(page_text(path), start, end, pid).strip()
        rows.append(label_row(pid, fname, body, date, author, kind))
    write_manifest(HERE, rows)


if __name__ == "__main__":
    main()
