#!/usr/bin/env python3
"""Extraction throughput: `newswire parse` (release build) vs trafilatura on the same HTML pages.

Pages are real corpus articles (../shared/corpus/zh-news.jsonl) rendered into realistic Chinese news-page HTML:
navigation bar, breadcrumb, headline, metadata line, body, share bar, related-article list, sidebar and footer;
half of them GBK-encoded with a gb2312 declaration, half UTF-8. Both extractors see identical bytes on disk.

  newswire: one process parses every page (`newswire parse --json FILE...`); wall time of the whole run,
            process start-up included. Input is bytes: charset detection and decoding are timed.
  trafilatura: in-process `bare_extraction(html, with_metadata=True)` (the call score.py uses); only the call is
            timed, on text already decoded in untimed setup (this favours trafilatura).

  --real DIR...: instead of rendered pages, the real pages listed in each DIR's manifest.jsonl (for example
            benchmarks/extraction/holdout, ../shared/extraction-dev), scored against their labelled bodies; each
            page is repeated --repeat times so the run is long enough to time.

usage: python3 benchmarks/extraction/run.py [--pages 300] [--binary .build-release/release/newswire] [--runs 3]
       python3 benchmarks/extraction/run.py --real benchmarks/extraction/holdout [../shared/extraction-dev] [--repeat 5]
Needs: pip install trafilatura. Build first: swift build -c release --scratch-path .build-release --product newswire
"""
import argparse, atexit, json, os, platform, random, re, resource, shutil, statistics, subprocess, sys, tempfile, time, unicodedata
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus", "zh-news.jsonl")


def load_articles(n):
    rows = [json.loads(l) for l in open(CORPUS, encoding="utf-8") if l.strip()]
    rows = [r for r in rows if len(r.get("body", "")) > 200]
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def render(article, others, rng, gbk):
    title = article["title"]
    paras = [p for p in article["body"].split("\n") if p.strip()]
    published = article.get("published") or "2024-01-01T00:00:00+08:00"
    date = (published[:10] + " " + published[11:16]).strip()
    source = article.get("source") or "央视网"
    nav = " | ".join(f'<a href="/c{i}">{w}</a>' for i, w in enumerate(
        ["首页", "新闻", "国内", "国际", "财经", "科技", "体育", "文化", "视频", "专题", "登录", "注册"]))
    related = "\n".join(f'<li><a href="/n/{rng.randrange(10**6)}.html">{o["title"]}</a> <span>{o["published"][:10]}</span></li>'
                        for o in others)
    side = "\n".join(f'<li><a href="/hot/{rng.randrange(10**6)}.html">{o["title"]}</a></li>' for o in reversed(others))
    body = "\n".join(f"<p>{p}</p>" for p in paras)
    charset = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">' if gbk else '<meta charset="utf-8">'
    html = f"""<!DOCTYPE html>
<html lang="zh-CN"><head>{charset}
<title>{title}_新闻频道_示例新闻网</title>
<meta name="keywords" content="新闻,{source}"><meta name="description" content="{paras[0][:60]}">
<link rel="stylesheet" href="/css/main.css"><script src="/js/jquery.min.js"></script>
<script>var _hmt = _hmt || []; (function() {{ var hm = document.createElement("script"); }})();</script>
<style>.nav{{float:left}} .main{{width:1000px}}</style>
</head><body>
<div class="topbar"><div class="wrap"><a href="/">示例新闻网首页</a> <a href="/m">手机版</a> <a href="/login">登录</a> <a href="/reg">注册</a></div></div>
<div class="header"><div class="logo"><img src="/logo.png" alt="示例新闻网"></div><div class="nav">{nav}</div>
<form class="search" action="/s"><input name="q"><button>搜索</button></form></div>
<div class="main wrap"><div class="left">
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/news">新闻</a> &gt; 正文</div>
<div class="article"><h1>{title}</h1>
<div class="info"><span>来源：{source}</span> <span>发布时间：{date}</span> <span>编辑：新闻编辑部</span> <span>【字体：<a>大</a> <a>中</a> <a>小</a>】</span></div>
<div class="content" id="content">
{body}
</div>
<div class="share">分享到：<a href="#">微信</a> <a href="#">微博</a> <a href="#">QQ空间</a> <a href="javascript:window.print()">【打印】</a> <a href="javascript:window.close()">【关闭】</a></div>
<div class="pages"><a href="/prev">上一篇：{others[0]["title"]}</a> <a href="/next">下一篇：{others[1]["title"]}</a></div>
<div class="related"><h3>相关新闻</h3><ul>
{related}
</ul></div></div></div>
<div class="right"><div class="hot"><h3>热点排行</h3><ol>
{side}
</ol></div><div class="ad"><a href="/ad"><img src="/ad.jpg" alt="广告"></a></div></div></div>
<div class="footer"><p><a href="/about">关于我们</a> | <a href="/contact">联系我们</a> | <a href="/map">网站地图</a></p>
<p>Copyright © 2024 示例新闻网 版权所有 示ICP备12345678号</p></div>
</body></html>
"""
    return html.encode("gb18030" if gbk else "utf-8"), "\n".join(paras)


def decode_page(raw):
    """BOM, strict UTF-8, then GB18030 (the scorer's order, less the declared-charset step, which only matters
    for non-Chinese legacy charsets absent from these sets)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def load_real(dirs, repeat):
    files, truths, texts, names = [], [], [], []
    for d in dirs:
        names.append(os.path.basename(os.path.normpath(d)))
        for line in open(os.path.join(d, "manifest.jsonl"), encoding="utf-8"):
            if not line.strip():
                continue
            row = json.loads(line)
            path = os.path.abspath(os.path.join(d, row["file"]))
            text = re.sub(r"^\s*<\?xml[^>]*\?>", "", decode_page(open(path, "rb").read()))
            for _ in range(repeat):
                files.append(path)
                truths.append(row["gt_body"])
                texts.append(text)
    return files, truths, texts, names


def keep(ch):
    return unicodedata.category(ch)[0] in "LNM"


def bigrams(text):
    s = "".join(ch for ch in unicodedata.normalize("NFKC", text or "").casefold() if keep(ch))
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


def f1(pred, gt):
    p, g = bigrams(pred), bigrams(gt)
    tp = sum((p & g).values())
    if not tp:
        return 0.0
    pr, rc = tp / sum(p.values()), tp / sum(g.values())
    return 2 * pr * rc / (pr + rc)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build-release", "release", "newswire"))
    ap.add_argument("--real", nargs="+", metavar="DIR", help="folders of real pages with a manifest.jsonl")
    ap.add_argument("--repeat", type=int, default=5, help="times each real page is parsed per run (default 5)")
    a = ap.parse_args()
    if not a.real and not os.path.isfile(CORPUS):
        sys.exit(f"corpus not found at {CORPUS}")
    if not os.path.isfile(a.binary):
        sys.exit(f"{a.binary} not found; build it: swift build -c release --scratch-path .build-release --product newswire")
    try:
        import trafilatura
        from importlib.metadata import version
        traf_version = version("trafilatura")
    except ImportError:
        sys.exit("trafilatura is not installed: pip install trafilatura")

    rng = random.Random(7)
    articles = [] if a.real else load_articles(a.pages)
    tmp = tempfile.mkdtemp(prefix="newswire-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    files, truths, texts = [], [], []
    if a.real:
        files, truths, texts, set_names = load_real(a.real, a.repeat)
    for i, art in enumerate(articles):
        others = rng.sample(articles, 8)
        gbk = i % 2 == 1
        data, truth = render(art, others, rng, gbk)
        path = os.path.join(tmp, f"page{i:04d}.html")
        open(path, "wb").write(data)
        files.append(path)
        truths.append(truth)
        texts.append(data.decode("gb18030" if gbk else "utf-8"))
    total_bytes = sum(os.path.getsize(f) for f in files)

    # newswire: one process for all pages; best of N runs; single-threaded and with one job per core.
    def run_newswire(jobs):
        cmd = [a.binary, "parse", "--json", "--jobs", str(jobs)] + files
        times, cpus, out = [], [], b""
        for _ in range(a.runs):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
            if p.returncode != 0:
                sys.exit(f"newswire failed: {p.stderr.decode()[:500]}")
            out = p.stdout
        return min(times), min(cpus), out, cmd
    cores = os.cpu_count() or 1
    # Process start-up (runtime and library loading), measured on a one-page run and subtracted for the
    # steady-state column; the headline columns keep it in.
    def startup_cpu(reps=10):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(reps):
            subprocess.run([a.binary, "parse", "--json", "--jobs", "1", files[0]], stdout=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / reps
    start_cpu = startup_cpu()
    nw1, nw1_cpu, out, cmd = run_newswire(1)
    nwn, nwn_cpu, out_n, _ = run_newswire(cores)
    assert out == out_n, "parallel output differs from serial output"
    recs = [json.loads(l) for l in out.decode("utf-8").splitlines() if l.strip()]
    assert len(recs) == len(files), (len(recs), len(files))
    nw_f1 = statistics.mean(f1("\n".join(r["paragraphs"]), t) for r, t in zip(recs, truths))
    nw_date = statistics.mean([1.0 if (r.get("publishedAt") or "")[:10] == (art.get("published") or "")[:10] else 0.0
                               for r, art in zip(recs, articles)] or [float("nan")])
    # trafilatura: in-process, extraction call only; best of N runs.
    tr_times, tr_cpus, tr_out = [], [], []
    for _ in range(a.runs):
        elapsed, cpu, results = 0.0, 0.0, []
        for html in texts:
            t0, c0 = time.perf_counter(), time.process_time()
            doc = trafilatura.bare_extraction(html, with_metadata=True)
            elapsed += time.perf_counter() - t0
            cpu += time.process_time() - c0
            results.append(doc)
        tr_times.append(elapsed)
        tr_cpus.append(cpu)
        tr_out = results
    def text_of(doc):
        d = doc.as_dict() if hasattr(doc, "as_dict") else (doc or {})
        return d.get("text") or ""
    tr_f1 = statistics.mean(f1(text_of(d), t) for d, t in zip(tr_out, truths))

    tr, tr_cpu = min(tr_times), min(tr_cpus)
    n, mb = len(files), total_bytes / 1e6
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("# Extraction throughput: newswire parse vs trafilatura")
    print()
    print(f"machine: {cores} cores (nproc), {cpu_model()}, {platform.system()} {platform.release()}, "
          f"load average {load:.1f} at the end of the run")
    if a.real:
        print(f"pages: {n // a.repeat} real pages ({', '.join(set_names)}), each parsed {a.repeat} times per run: "
              f"{n} parses, {mb:.2f} MB total, {total_bytes / n / 1024:.1f} KiB/page")
    else:
        print(f"pages: {n} corpus articles rendered as news pages ({n - n // 2} UTF-8, {n // 2} GBK), "
              f"{mb:.2f} MB total, {total_bytes / n / 1024:.1f} KiB/page")
    print(f"newswire:    {' '.join([os.path.relpath(cmd[0], ROOT)] + cmd[1:3])} --jobs J <{n} files>   (the whole process, start-up included; "
          f"best of {a.runs})")
    print(f"trafilatura: trafilatura.bare_extraction(html, with_metadata=True) {traf_version}, in-process, "
          f"1 thread, extraction call only; best of {a.runs}")
    print("CPU = user+system CPU seconds (robust on a shared machine); wall = elapsed time.")
    print()
    print(f"| extractor | threads | pages/s (CPU) | MB/s (CPU) | pages/s (wall) | body F1 vs {'labels' if a.real else 'corpus'} | ratio (CPU) "
          "| ratio (wall) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| newswire parse --jobs 1 (release) | 1 | {n / nw1_cpu:.0f} | {mb / nw1_cpu:.2f} | {n / nw1:.0f} | "
          f"{nw_f1:.3f} | {tr_cpu / nw1_cpu:.1f}x | {tr / nw1:.1f}x |")
    print(f"| newswire parse --jobs {cores} (release) | {cores} | {n / nwn_cpu:.0f} | {mb / nwn_cpu:.2f} | "
          f"{n / nwn:.0f} | {nw_f1:.3f} | {tr_cpu / nwn_cpu:.1f}x | {tr / nwn:.1f}x |")
    steady = (nw1_cpu - start_cpu) / (n - 1) if nw1_cpu > start_cpu else float("nan")
    print(f"| newswire steady state (CPU minus {start_cpu * 1000:.1f} ms start-up) | 1 | {1 / steady:.0f} | "
          f"{mb / n / steady:.2f} | - | {nw_f1:.3f} | {tr_cpu / n / steady:.1f}x | - |")
    print(f"| trafilatura {traf_version} | 1 | {n / tr_cpu:.0f} | {mb / tr_cpu:.2f} | {n / tr:.0f} | {tr_f1:.3f} | "
          f"1.0x | 1.0x |")
    if not a.real:
        print()
        print(f"newswire publishedAt matches the corpus date on {nw_date:.0%} of pages")


if __name__ == "__main__":
    main()
