#!/usr/bin/env python3
"""Crash safety: ingest the corpus over the protocol, SIGKILL the server at random points, restart, verify.

    benchmarks/crash/crash_safety.py [--kills 5] [--limit N] [--bin .build/debug] [--seed S]

Every round: a driver (newswire-hardening ingest) PUTs corpus batches and records each batch's ids only after the
server acknowledged it; the server is SIGKILLed after a random delay; it is restarted and must come up cleanly
(answer PING, no error-level log lines); then newswire-hardening verify checks that every acknowledged record is
stored and equal to its corpus record, that a sample of them is found by the index (exact title phrase), and that
STATS counts them. After the last kill the rest of the corpus is ingested, verified, and the server is stopped
with SIGTERM (exit 0 expected). Skips (exit 0) when ../shared/corpus/zh-news.jsonl is absent.
"""
import argparse, json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "zh-news.jsonl")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="only the first N corpus records (0: all)")
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "debug"))
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--min-delay", type=float, default=1.0)
    parser.add_argument("--max-delay", type=float, default=8.0)
    args = parser.parse_args()
    if not os.path.exists(CORPUS):
        print(f"SKIP: corpus not found at {CORPUS}")
        return 0
    for tool in ("newswired", "newswire", "newswire-hardening"):
        if not os.path.exists(os.path.join(args.bin, tool)):
            sys.exit(f"missing {args.bin}/{tool}: run `swift build` first (or pass --bin)")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="newswire-crash-")
    data = os.path.join(work, "data")
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write("crash-test-token-%d\n" % rng.randrange(1 << 30))
    corpus = CORPUS
    if args.limit:
        corpus = os.path.join(work, "corpus.jsonl")
        with open(CORPUS, "rb") as src, open(corpus, "wb") as dst:
            for i, line in enumerate(src):
                if i >= args.limit:
                    break
                dst.write(line)
    records = sum(1 for _ in open(corpus, "rb"))
    acks = os.path.join(work, "acked.txt")
    port = free_port()
    tool = lambda name: os.path.join(args.bin, name)

    def start_server(round_no):
        log = open(os.path.join(work, f"server-{round_no}.log"), "w")
        started = time.monotonic()
        proc = subprocess.Popen(
            [tool("newswired"), "--port", str(port), "--data-dir", data, "--no-seeds", "--token-file", token_file,
             "--log-level", "info"], stdout=log, stderr=log)
        while time.monotonic() - started < 120:
            if proc.poll() is not None:
                sys.exit(f"server exited with {proc.returncode} while starting; see {log.name}")
            ping = subprocess.run([tool("newswire"), "ping", "--port", str(port)], capture_output=True)
            if ping.returncode == 0:
                return proc, log.name, time.monotonic() - started
            time.sleep(0.1)
        proc.kill()
        sys.exit(f"server did not answer PING within 120 s; see {log.name}")

    def clean_log(path):
        bad = [line for line in open(path, errors="replace") if " error " in line or " critical " in line]
        return bad

    def verify():
        out = subprocess.run(
            [tool("newswire-hardening"), "verify", str(port), token_file, corpus, acks, "300"],
            capture_output=True, text=True)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            result = {"ok": False}
        if out.returncode != 0:
            result["ok"] = False
            result["stderr"] = out.stderr.strip()[-500:]
        return result

    print(f"machine: {os.cpu_count()} cores, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    print(f"corpus: {records} records; kills: {args.kills}; seed: {args.seed}; work dir: {work}")
    print(f"{'round':>5} {'killed after s':>14} {'acked':>7} {'restart s':>9} {'startup':>24} {'missing':>7} "
          f"{'different':>9} {'unindexed':>9} {'stored':>7} {'log clean':>9}")
    server, log, _ = start_server(0)
    failures = 0
    for round_no in range(1, args.kills + 1):
        driver = subprocess.Popen(
            [tool("newswire-hardening"), "ingest", str(port), token_file, corpus, acks, "100"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        delay = rng.uniform(args.min_delay, args.max_delay)
        time.sleep(delay)
        server.send_signal(signal.SIGKILL)
        server.wait()
        driver.wait(timeout=120)
        server, log, restart = start_server(round_no)
        bad_lines = clean_log(log)
        result = verify()
        ok = result.get("ok") and not bad_lines
        failures += 0 if ok else 1
        print(f"{round_no:>5} {delay:>14.2f} {result.get('acknowledged', '?'):>7} {restart:>9.2f} "
              f"{result.get('index_startup', '?')[:24]:>24} {result.get('missing', '?'):>7} "
              f"{result.get('different', '?'):>9} {result.get('unindexed', '?'):>9} {result.get('stored', '?'):>7} "
              f"{'yes' if not bad_lines else 'NO':>9}", flush=True)
        if not ok:
            print(json.dumps(result, ensure_ascii=False), bad_lines[:5])
    # Finish the corpus without a kill, verify, and stop gracefully.
    final = subprocess.run(
        [tool("newswire-hardening"), "ingest", str(port), token_file, corpus, acks, "100"], capture_output=True,
        text=True)
    result = verify()
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=120)
    ok = final.returncode == 0 and result.get("ok") and code == 0
    failures += 0 if ok else 1
    print(f"final: ingest exit {final.returncode}, acknowledged {result.get('acknowledged')}, missing "
          f"{result.get('missing')}, different {result.get('different')}, unindexed {result.get('unindexed')}, "
          f"stored {result.get('stored')}, SIGTERM exit {code}")
    print("PASS" if failures == 0 else f"FAIL ({failures} rounds failed)")
    if failures == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
