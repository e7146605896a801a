#!/usr/bin/env python3
"""Cluster mode against a single node, in one run.

Starts a PostgreSQL primary and a synchronous standby (throwaway, in a temp directory, as the postgres user when
run as root), three `newswired` nodes on 127.0.0.2-4 sharing them, and one SQLite `newswired` on 127.0.0.1. Then:

1. ingests the same corpus records into the single node and into cluster node 1 (timing both), sampling the
   other nodes' feed lag (STATS feed.lag_changes / feed.lag_ms) every 20 ms meanwhile;
2. runs `newswire bench` GET and SEARCH against each node and the single node.

Prints a Markdown table with the machine and the commands. Usage (from the repository root):

    benchmarks/cluster/run.py [--limit 5000] [--bin-dir .build-release/release] [--no-build] [--seconds 5]
"""
import argparse, json, os, platform, pwd, shutil, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "zh-news.jsonl")


def pg_bindir():
    env = os.environ.get("NEWSWIRE_PG_BINDIR")
    if env:
        return env
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    except FileNotFoundError:
        pass
    base = "/usr/lib/postgresql"
    for version in sorted((v for v in os.listdir(base) if v.isdigit()), key=int, reverse=True):
        return os.path.join(base, version, "bin")
    sys.exit("PostgreSQL binaries not found (install postgresql or set NEWSWIRE_PG_BINDIR)")


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {host}:{port} after {seconds} s")


class Postgres:
    def __init__(self, bindir, root, name):
        self.bindir, self.dir, self.port = bindir, os.path.join(root, name), free_port()
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def run(self, program, *args):
        return subprocess.run(as_postgres([os.path.join(self.bindir, program), *args]), check=True,
                              capture_output=True, text=True, cwd=self.dir).stdout.strip()

    def conf(self, lines, file="postgresql.conf"):
        with open(os.path.join(self.data, file), "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start")
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def psql(self, sql, db="postgres"):
        return self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-XAt",
                        "-c", sql)

    def stop(self):
        try:
            os.kill(self.pid, 2)
        except (AttributeError, ProcessLookupError):
            pass


def node(bin_dir, host, port, data, store=None):
    env = dict(os.environ)
    if store:
        env["NEWSWIRE_STORE"] = store
    cmd = [os.path.join(bin_dir, "newswired"), "--host", host, "--port", str(port), "--data-dir", data,
           "--no-seeds", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
    wait_port(host, port)
    return proc


def cli(bin_dir, *args):
    return subprocess.run([os.path.join(bin_dir, "newswire"), *args], capture_output=True, text=True)


def stats(bin_dir, host, port):
    out = cli(bin_dir, "stats", "--host", host, "--port", str(port), "--json")
    return json.loads(out.stdout) if out.returncode == 0 else {}


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=5000, help="corpus records to ingest")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build-release", "release"))
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--seconds", type=int, default=5, help="length of each bench run")
    args = parser.parse_args()
    if not os.path.exists(CORPUS):
        sys.exit("skipped: ../shared/corpus/zh-news.jsonl is absent")
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-release"], cwd=ROOT, check=True)
    bindir = pg_bindir()
    root = tempfile.mkdtemp(prefix="newswire-cluster-bench-")
    os.chmod(root, 0o755)
    procs, servers = [], []
    try:
        primary = Postgres(bindir, root, "primary")
        servers.append(primary)
        primary.run("initdb", "-D", primary.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C")
        primary.conf([f"port = {primary.port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{primary.dir}'",
                      "wal_level = replica", "max_wal_senders = 4", "synchronous_standby_names = 'standby1'"])
        primary.start()
        standby = Postgres(bindir, root, "standby")
        servers.append(standby)
        standby.run("pg_basebackup", "-D", standby.data, "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-R", "-X", "stream")
        standby.conf([f"port = {standby.port}", f"unix_socket_directories = '{standby.dir}'"])
        standby.conf([f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres application_name=standby1'"],
                     "postgresql.auto.conf")
        standby.start()
        primary.psql("CREATE DATABASE newswire")
        deadline = time.time() + 60
        while primary.psql("SELECT sync_state FROM pg_stat_replication") != "sync":
            if time.time() > deadline:
                sys.exit("the standby never became synchronous")
            time.sleep(0.1)
        url = f"postgres://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/newswire"

        single_port = free_port()
        procs.append(node(args.bin_dir, "127.0.0.1", single_port, os.path.join(root, "single")))
        nodes = []
        for i, host in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"]):
            port = free_port(host)
            procs.append(node(args.bin_dir, host, port, os.path.join(root, f"node{i + 1}"), store=url))
            nodes.append((host, port))

        corpus = os.path.join(root, "corpus.jsonl")
        with open(CORPUS) as src, open(corpus, "w") as dst:
            for n, line in enumerate(src):
                if n >= args.limit:
                    break
                dst.write(line)

        def ingest(host, port):
            start = time.time()
            out = cli(args.bin_dir, "ingest", "--jsonl", corpus, "--host", host, "--port", str(port), "--json")
            if out.returncode != 0:
                sys.exit(f"ingest into {host}:{port} failed: {out.stderr[-500:]}")
            return time.time() - start

        single_seconds = ingest("127.0.0.1", single_port)
        lags_ms, lags_changes, sampling = [], [], [True]

        def sample():
            while sampling[0]:
                for host, port in nodes[1:]:
                    s = stats(args.bin_dir, host, port)
                    if "feed.lag_ms" in s:
                        lags_ms.append(s["feed.lag_ms"])
                        lags_changes.append(s["feed.lag_changes"])
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        cluster_seconds = ingest(*nodes[0])
        sampling[0] = False
        sampler.join()
        head = stats(args.bin_dir, *nodes[0]).get("store.sequence", 0)
        deadline = time.time() + 120
        for host, port in nodes:
            while stats(args.bin_dir, host, port).get("feed.applied_sequence", -1) < head and time.time() < deadline:
                time.sleep(0.1)

        queries = os.path.join(ROOT, "benchmarks", "protocol", "queries.txt")

        def bench(host, port, mix):
            out = cli(args.bin_dir, "bench", "--host", host, "--port", str(port), "--mix", mix, "-c", "16", "-p", "4",
                      "-d", f"{args.seconds}s", "--queries", queries, "--threads", "2", "--json")
            return json.loads(out.stdout)["throughput"] if out.returncode == 0 else float("nan")

        rows = []
        for label, host, port in [("single (SQLite)", "127.0.0.1", single_port)] + [
                (f"cluster node {i + 1}", h, p) for i, (h, p) in enumerate(nodes)]:
            rows.append((label, bench(host, port, "get=1"), bench(host, port, "search=1")))

        print("## Cluster mode (benchmarks/cluster/run.py)\n")
        print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, "
              f"load average at start {os.getloadavg()[0]:.2f}")
        print(f"- PostgreSQL: {subprocess.run([os.path.join(bindir, 'postgres'), '--version'], capture_output=True, text=True).stdout.strip()}, "
              "primary + synchronous standby on loopback; nodes on 127.0.0.2-4; binaries from " +
              os.path.relpath(args.bin_dir, ROOT))
        print(f"- corpus: first {args.limit} records of zh-news.jsonl, `newswire ingest --jsonl` (default concurrency)\n")
        print("| measurement | single node (SQLite) | cluster | ratio cluster / single |")
        print("|---|---|---|---|")
        print(f"| ingest seconds | {single_seconds:.2f} | {cluster_seconds:.2f} | {cluster_seconds / single_seconds:.2f}× |")
        print(f"| feed lag on the other nodes during ingest, p50 / p99 / max ms | — | "
              f"{percentile(lags_ms, 50):.0f} / {percentile(lags_ms, 99):.0f} / {max(lags_ms or [0]):.0f} "
              f"({len(lags_ms)} samples) | — |")
        print(f"| feed lag in changes, p50 / p99 | — | {percentile(lags_changes, 50):.0f} / "
              f"{percentile(lags_changes, 99):.0f} | — |")
        single_get, single_search = rows[0][1], rows[0][2]
        for label, get, search in rows[1:]:
            print(f"| GET req/s, {label} | {single_get:,.0f} | {get:,.0f} | {get / single_get:.2f}× |")
            print(f"| SEARCH req/s, {label} | {single_search:,.0f} | {search:,.0f} | {search / single_search:.2f}× |")
        print("\nCommands: `benchmarks/cluster/run.py " + " ".join(
            a for a in sys.argv[1:] if not a.startswith("/")) + "`; each bench: `newswire bench --mix get=1|search=1 "
              f"-c 16 -p 4 -d {args.seconds}s --threads 2 --queries benchmarks/protocol/queries.txt`. "
              "Nodes are benched one after another (one machine).")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in servers:
            server.stop()
        time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
