#!/usr/bin/env python3
"""Cluster mode against a single node, in one run.

Starts a PostgreSQL primary and a synchronous standby (throwaway, in a temp directory, as the postgres user when
run as root), three `newswired` nodes on 127.0.0.2-4 sharing them, and SQLite `newswired` single nodes on
127.0.0.1. Then:

1. ingest with one client: the same corpus records into a single node and into cluster node 1 (timing both, with
   nothing else running), in `--ingest-rounds` rounds (default 3), each into fresh servers, compared by their
   medians; then the same records into node 1 of three fresh nodes over a fresh database, while a
   probe (`newswire-hardening lag`) PUTs a marker article to node 1 every `--probe-interval-ms` (default 10 ms,
   a few hundred probes, so p99 is not simply the largest) and times until node 2's index
   holds each (its acknowledgement, which follows the commit, to the answer of a SEARCH for it on node 2 that
   carries its commit position: node 2 answers once it applied it, ms), and STATS feed lag of nodes 2-3 (age of
   the oldest change not searchable yet) is sampled;
2. ingest with three clients at once: thirds of the corpus into a fresh single node (three clients) and into three
   fresh cluster nodes on a fresh database (one client per node);
3. `newswire bench` GET and SEARCH against the single node and each cluster node (2 and 3 only follow the feed);
4. a failover timeline: `newswire-hardening ingest` PUTs more corpus records through a client that knows all three
   nodes; node 3 is SIGKILLed, later the PostgreSQL primary is SIGKILLed and the standby promoted
   (`pg_ctl promote`); the script records when each acknowledgement arrived, the errors the client saw, the write
   pause, and checks on nodes 1 and 2 that every acknowledged record is stored and indexed.

Prints Markdown tables with the machine and the commands. Usage (from the repository root):

    benchmarks/cluster/run.py [--limit 5000] [--bin-dir .build-release/release] [--no-build] [--seconds 5]
        [--newswired PATH] [--ingest-rounds 3] [--ingest-only] [--probe-interval-ms 10]

`--newswired` runs another build's server (every node and single node) with this build's client tools, so two
builds are compared by running the script once with each, in alternating rounds.
"""
import argparse, json, os, platform, pwd, shutil, signal, socket, subprocess, sys, tempfile, threading, time

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

    def cpu_seconds(self):
        """CPU seconds used so far by the postmaster and its live children (backends, WAL sender/receiver, startup)."""
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == self.pid or int(fields[1]) == self.pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def psql(self, sql, db="postgres"):
        return self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-XAt",
                        "-c", sql)

    def stop(self):
        try:
            os.kill(self.pid, 2)
        except (AttributeError, ProcessLookupError):
            pass


def node(server, host, port, data, store=None):
    env = dict(os.environ)
    if store:
        env["NEWSWIRE_STORE"] = store
    cmd = [server, "--host", host, "--port", str(port), "--data-dir", data,
           "--no-seeds", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
    wait_port(host, port)
    return proc


def cli(bin_dir, *args):
    return subprocess.run([os.path.join(bin_dir, "newswire"), *args], capture_output=True, text=True)


def stats(bin_dir, host, port):
    out = cli(bin_dir, "stats", "--host", host, "--port", str(port), "--json")
    return json.loads(out.stdout) if out.returncode == 0 else {}


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid, seconds=60):
    """Waits until process `pid` stops using CPU (its merges and compaction after a load are done), so that work
    does not fall into the next measurement's window."""
    deadline = time.time() + seconds
    used = cpu_seconds(pid)
    while time.time() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - used < 0.02:
            return
        used = now


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def lag_summary(output):
    """Percentiles of the lags `newswire-hardening lag` printed, one per line."""
    lags = []
    for line in output.splitlines():
        try:
            lags.append(float(line))
        except ValueError:
            pass
    if not lags:
        return None
    return {"probes": len(lags), "p50_ms": percentile(lags, 50), "p90_ms": percentile(lags, 90),
            "p99_ms": percentile(lags, 99), "max_ms": max(lags)}


def ratio(a, b):
    return a / b if b else float("nan")


def print_ingest_rows(args, bindir, load_at_start, ingest_rounds, single3_seconds, cluster3_seconds,
                      probed_seconds, loaded_probe, idle_probe, lags_ms, lags_changes, cpu_during, shipped=None,
                      storage=None):
    print("## Cluster mode (benchmarks/cluster/run.py)\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}, "
          f"load average at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"- PostgreSQL: {subprocess.run([os.path.join(bindir, 'postgres'), '--version'], capture_output=True, text=True).stdout.strip()}, "
          "primary + synchronous standby on loopback; nodes on 127.0.0.2-4; " +
          ("client tools from this build, `newswired` from a peer build (`--newswired`)" if args.newswired
           else "binaries from this build"))
    print(f"- corpus: first {args.limit} records of zh-news.jsonl, `newswire ingest --jsonl` (default concurrency)\n")
    print("| measurement | single node (SQLite) | cluster | ratio cluster / single |")
    print("|---|---|---|---|")
    single_rounds, cluster_rounds = ingest_rounds
    single_seconds, cluster_seconds = percentile(single_rounds, 50), percentile(cluster_rounds, 50)
    print(f"| ingest seconds, one client (cluster: into node 1), median of {len(single_rounds)} rounds | "
          f"{single_seconds:.2f} | {cluster_seconds:.2f} | {ratio(cluster_seconds, single_seconds):.2f}× |")
    print(f"| the same, each round (fresh servers each, single node first) | "
          f"{', '.join(f'{t:.2f}' for t in single_rounds)} | {', '.join(f'{t:.2f}' for t in cluster_rounds)} | "
          f"{', '.join(f'{ratio(c, s):.2f}×' for s, c in zip(single_rounds, cluster_rounds))} |")
    if single3_seconds is not None:
        print(f"| ingest seconds, three clients (cluster: one per node) | {single3_seconds:.2f} | {cluster3_seconds:.2f} | "
              f"{ratio(cluster3_seconds, single3_seconds):.2f}× |")

    def probe_cell(p):
        return (f"{p['p50_ms']:.1f} / {p['p90_ms']:.1f} / {p['p99_ms']:.1f} / {p['max_ms']:.1f} ({p['probes']} probes)"
                if p else "— (the probe did not finish)")

    print(f"| the same corpus into node 1 of three fresh nodes while feed lag is measured (the rows below) | — | "
          f"{probed_seconds:.2f} | {ratio(probed_seconds, single_seconds):.2f}× |")
    print(f"| write on node 1 acknowledged → found by a SEARCH on node 2 carrying its position, during that ingest "
          f"(a probe every {args.probe_interval_ms} ms), p50 / p90 / p99 / max ms | "
          f"— | {probe_cell(loaded_probe)} | — |")
    print(f"| the same, idle cluster | — | {probe_cell(idle_probe)} | — |")
    print(f"| STATS feed.lag_ms (age of the oldest unapplied change) of nodes 2-3 during that ingest, p50 / p99 / max | — | "
          f"{percentile(lags_ms, 50):.0f} / {percentile(lags_ms, 99):.0f} / {max(lags_ms or [0]):.0f} "
          f"({len(lags_ms)} samples) | — |")
    print(f"| STATS feed.lag_changes, p50 / p99 | — | {percentile(lags_changes, 50):.0f} / "
          f"{percentile(lags_changes, 99):.0f} | — |")
    print(f"| CPU seconds during the last round's one-client ingest: single node; cluster nodes 1 / 2 / 3, PostgreSQL primary / "
          f"standby (their server processes) | {cpu_during[5]:.1f} | "
          f"{' / '.join(f'{c:.1f}' for c in cpu_during[:3])}, {cpu_during[3]:.1f} / {cpu_during[4]:.1f} "
          f"(total {sum(cpu_during[:5]):.1f}) | {ratio(sum(cpu_during[:5]), cpu_during[5]):.2f}× |")
    if storage is not None:
        mb = 1 << 20
        print(f"| PostgreSQL: WAL written during the one-client cluster ingest; records, derived bytes (uncompressed) "
              f"and table size after it, MiB | — | {storage['wal_bytes'] / mb:.1f}; {storage['json_bytes'] / mb:.1f}, "
              f"{storage['derived_bytes'] / mb:.1f}, {storage['table_bytes'] / mb:.1f} | — |")
        print(f"| PostgreSQL: transactions in the nodes' database during the one-client cluster ingest (each "
              f"statement of a node is one) | — | {storage['statements']:,} | — |")
    if shipped is not None:
        print(f"| articles nodes 2 / 3 indexed from the writer's shipped analysis (STATS feed.shipped_articles) | — | "
              f"{' / '.join(str(n) if n is not None else '—' for n in shipped)} | — |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=5000, help="corpus records to ingest")
    parser.add_argument("--failover-records", type=int, default=3000, help="records PUT during the failover run")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build-release", "release"))
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--seconds", type=int, default=5, help="length of each bench run")
    parser.add_argument("--newswired", help="server binary to run instead of the one in --bin-dir")
    parser.add_argument("--probe-interval-ms", type=int, default=10,
                        help="the lag probe's PUT interval during the probed ingest")
    parser.add_argument("--ingest-rounds", type=int, default=3,
                        help="one-client ingests timed on each side, each into fresh servers; the medians are compared")
    parser.add_argument("--ingest-only", action="store_true",
                        help="run only the one-client ingests and the lag probe (step 1), for quick paired rounds")
    args = parser.parse_args()
    server_binary = args.newswired or os.path.join(args.bin_dir, "newswired")
    if not os.path.exists(CORPUS):
        sys.exit("skipped: ../shared/corpus/zh-news.jsonl is absent")
    if not args.no_build:
        for product in ("newswired", "newswire", "newswire-hardening"):
            subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product", product],
                           cwd=ROOT, check=True)
    bindir = pg_bindir()
    root = tempfile.mkdtemp(prefix="newswire-cluster-bench-")
    os.chmod(root, 0o755)
    load_at_start = os.getloadavg()[0]
    procs, servers = {}, []
    token_file = os.path.join(root, "token")
    with open(token_file, "w") as f:
        f.write("unused\n")  # the nodes run without tokens; the driver wants a file
    hardening = os.path.join(args.bin_dir, "newswire-hardening")
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
        # Once promoted, the standby must not wait for a synchronous standby of its own (it has none).
        standby.conf([f"port = {standby.port}", f"unix_socket_directories = '{standby.dir}'",
                      "synchronous_standby_names = ''"])
        standby.conf([f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres application_name=standby1'"],
                     "postgresql.auto.conf")
        standby.start()
        primary.psql("CREATE DATABASE newswire")
        primary.psql("CREATE DATABASE newswire_parallel")
        primary.psql("CREATE DATABASE newswire_lag")
        for r in range(1, args.ingest_rounds):
            primary.psql(f"CREATE DATABASE newswire_round{r}")
        deadline = time.time() + 60
        while primary.psql("SELECT sync_state FROM pg_stat_replication") != "sync":
            if time.time() > deadline:
                sys.exit("the standby never became synchronous")
            time.sleep(0.1)

        def url(db):
            return f"postgres://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/{db}"

        def start(name, host, store=None):
            port = free_port(host)
            procs[name] = node(server_binary, host, port, os.path.join(root, name), store=store)
            return host, port

        def stop(name):
            procs[name].terminate()
            procs.pop(name).wait(timeout=60)

        single = start("single", "127.0.0.1")
        nodes = [start(f"node{i + 1}", host, url("newswire")) for i, host in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"])]

        with open(CORPUS) as src:
            lines = src.readlines()
        corpus = os.path.join(root, "corpus.jsonl")
        with open(corpus, "w") as dst:
            dst.writelines(lines[:args.limit])
        thirds = []
        for k in range(3):
            part = os.path.join(root, f"corpus{k}.jsonl")
            with open(part, "w") as dst:
                dst.writelines(lines[:args.limit][k::3])
            thirds.append(part)
        failover_corpus = os.path.join(root, "failover.jsonl")
        with open(failover_corpus, "w") as dst:
            dst.writelines(lines[args.limit:args.limit + args.failover_records])

        def ingest_process(path, host, port):
            return subprocess.Popen([os.path.join(args.bin_dir, "newswire"), "ingest", "--jsonl", path, "--host", host,
                                     "--port", str(port), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)

        def ingest(jobs):
            """Runs the ingest jobs [(path, host, port)] at once; returns the wall-clock seconds."""
            started = time.time()
            running = [ingest_process(*job) for job in jobs]
            for job, proc in zip(jobs, running):
                out, err = proc.communicate()
                if proc.returncode != 0:
                    sys.exit(f"ingest into {job[1]}:{job[2]} failed: {err[-500:]}")
            return time.time() - started

        # 1. One client, timed with nothing else running: no probe or STATS sampler polls either side (a probe's
        # SEARCH every 2 ms on node 2 cost the cluster's ingest about 0.6 s of the two cores; the single node had none).
        # The two sides' times move by a fifth between rounds on a shared machine, so each is timed in several rounds,
        # each into fresh servers (a single node, then three nodes over a database of their own), alternating, and
        # the medians are compared; the last round's servers are the ones the later steps use.
        single_rounds, cluster_rounds = [], []
        for r in range(1, args.ingest_rounds):
            round_single = start(f"rsingle{r}", "127.0.0.1")
            round_nodes = [start(f"rnode{r}-{i + 1}", host, url(f"newswire_round{r}"))
                           for i, host in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"])]
            single_rounds.append(ingest([(corpus, *round_single)]))
            wait_idle(procs[f"rsingle{r}"].pid)
            cluster_rounds.append(ingest([(corpus, *round_nodes[0])]))
            for name in [f"rsingle{r}"] + [f"rnode{r}-{i + 1}" for i in range(3)]:
                stop(name)
        single_cpu_before = cpu_seconds(procs["single"].pid)
        single_seconds = ingest([(corpus, *single)])
        single_cpu = cpu_seconds(procs["single"].pid) - single_cpu_before
        wait_idle(procs["single"].pid)  # its compaction once writes go quiet is not the cluster's to pay for
        cpu_before = [cpu_seconds(procs[f"node{i + 1}"].pid) for i in range(3)] + [primary.cpu_seconds(),
                                                                                    standby.cpu_seconds()]
        wal_before = int(primary.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"))
        xacts = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'newswire'"
        xacts_before = int(primary.psql(xacts))
        cluster_seconds = ingest([(corpus, *nodes[0])])
        single_rounds.append(single_seconds)
        cluster_rounds.append(cluster_seconds)
        ingest_rounds = (single_rounds, cluster_rounds)
        wal_bytes = int(primary.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")) - wal_before
        cpu_during = [cpu_seconds(procs[f"node{i + 1}"].pid) for i in range(3)] + [primary.cpu_seconds(),
                                                                                    standby.cpu_seconds()]
        cpu_during = [after - before for after, before in zip(cpu_during, cpu_before)] + [single_cpu]
        # Every statement outside a transaction block is a transaction: the nodes' round trips to the primary.
        time.sleep(1.1)  # backends report their counts at most once a second
        statements = int(primary.psql(xacts)) - xacts_before
        head = stats(args.bin_dir, *nodes[0]).get("store.sequence", 0)
        deadline = time.time() + 120
        for host, port in nodes:
            while stats(args.bin_dir, host, port).get("feed.applied_sequence", -1) < head and time.time() < deadline:
                time.sleep(0.1)

        shipped = [stats(args.bin_dir, host, port).get("feed.shipped_articles") for host, port in nodes[1:]]
        stored = [int(v or 0) for v in primary.psql(
            "SELECT sum(octet_length(json)), sum(octet_length(derived)), pg_total_relation_size('newswire_article') "
            "FROM newswire_article", db="newswire").split("|")]
        storage = {"wal_bytes": wal_bytes, "json_bytes": stored[0], "derived_bytes": stored[1], "table_bytes": stored[2],
                   "statements": statements}

        # 1b. Feed lag under the same ingest, on three fresh nodes over a fresh database (so the timed run above
        # carries none of the measuring): a probe PUTs a marker article to node 1 every --probe-interval-ms and asks
        # node 2 for each with its commit position (read-your-writes), while one `newswire stats --every` per follower
        # samples STATS.
        for name in ["node1", "node2", "node3"]:
            wait_idle(procs[name].pid)
        lag_nodes = [start(f"lnode{i + 1}", host, url("newswire_lag"))
                     for i, host in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"])]
        lags_ms, lags_changes = [], []
        # One long-lived sampler per follower: a CLI process started per sample costs about 13 ms of CPU.
        samplers = [subprocess.Popen([os.path.join(args.bin_dir, "newswire"), "stats", "--host", host, "--port",
                                      str(port), "--json", "--every", "0.02"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True) for host, port in lag_nodes[1:]]

        def sample(proc):
            for line in proc.stdout:
                s = json.loads(line)
                if "feed.lag_ms" in s:
                    lags_ms.append(s["feed.lag_ms"])
                    lags_changes.append(s["feed.lag_changes"])

        sampler_threads = [threading.Thread(target=sample, args=(proc,)) for proc in samplers]
        for thread in sampler_threads:
            thread.start()
        stop_probe = os.path.join(root, "stop-probe")
        probe = subprocess.Popen([hardening, "lag", "%s:%d" % lag_nodes[0], "%s:%d" % lag_nodes[1], token_file,
                                  "100000", stop_probe, str(args.probe_interval_ms)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        probed_seconds = ingest([(corpus, *lag_nodes[0])])
        for proc in samplers:
            proc.terminate()
        for proc, thread in zip(samplers, sampler_threads):
            proc.wait(timeout=60)
            thread.join()
        open(stop_probe, "w").close()  # the probe stops writing, then waits for the answers to its last probes
        probe_out, probe_err = probe.communicate(timeout=600)
        loaded_probe = lag_summary(probe_out)
        idle_probe = lag_summary(subprocess.run([hardening, "lag", "%s:%d" % lag_nodes[0], "%s:%d" % lag_nodes[1],
                                                 token_file, "200"], capture_output=True, text=True,
                                                check=True).stdout)
        for name in ["lnode1", "lnode2", "lnode3"]:
            stop(name)
        if args.ingest_only:
            print_ingest_rows(args, bindir, load_at_start, ingest_rounds, None, None, probed_seconds,
                              loaded_probe, idle_probe, lags_ms, lags_changes, cpu_during, shipped, storage)
            print("\nCommands: `benchmarks/cluster/run.py " + " ".join(
                "DIR" if os.path.isabs(a) else a for a in sys.argv[1:]) + "`")
            return

        # 2. Three clients at once (after the first step's servers finished their merges and compaction).
        for name in ["single", "node1", "node2", "node3"]:
            wait_idle(procs[name].pid)
        parallel_single = start("single3", "127.0.0.1")
        parallel_nodes = [start(f"pnode{i + 1}", host, url("newswire_parallel"))
                          for i, host in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"])]
        single3_seconds = ingest([(part, *parallel_single) for part in thirds])
        wait_idle(procs["single3"].pid)
        cluster3_seconds = ingest([(part, *n) for part, n in zip(thirds, parallel_nodes)])
        for name in ["single3", "pnode1", "pnode2", "pnode3"]:
            stop(name)

        # 3. Reads.
        queries = os.path.join(ROOT, "benchmarks", "protocol", "queries.txt")

        def bench(host, port, mix):
            out = cli(args.bin_dir, "bench", "--host", host, "--port", str(port), "--mix", mix, "-c", "16", "-p", "4",
                      "-d", f"{args.seconds}s", "--queries", queries, "--threads", "2", "--json")
            return json.loads(out.stdout)["throughput"] if out.returncode == 0 else float("nan")

        rows = []
        for label, (host, port) in [("single (SQLite)", single)] + [
                (f"cluster node {i + 1}", n) for i, n in enumerate(nodes)]:
            rows.append((label, bench(host, port, "get=1"), bench(host, port, "search=1")))

        # 4. Failover timeline.
        acks = os.path.join(root, "acks.txt")
        endpoints = ",".join("%s:%d" % n for n in nodes)
        timeline = []  # (seconds since start, acknowledged records)
        driver = subprocess.Popen([hardening, "ingest", endpoints, token_file, failover_corpus, acks, "20"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        events = {}

        def acknowledged():
            try:
                with open(acks) as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0

        while driver.poll() is None:
            now = time.time() - t0
            count = acknowledged()
            if not timeline or timeline[-1][1] != count:
                timeline.append((now, count))
            if "node3 killed" not in events and count >= args.failover_records // 5:
                procs["node3"].kill()
                events["node3 killed"] = (now, count)
            if "primary killed" not in events and count >= args.failover_records // 2:
                os.kill(primary.pid, signal.SIGKILL)
                events["primary killed"] = (time.time() - t0, count)
                standby.run("pg_ctl", "-D", standby.data, "-w", "promote")
                events["standby promoted"] = (time.time() - t0, acknowledged())
            time.sleep(0.002)
        driver_out, driver_err = driver.communicate()
        total_seconds = time.time() - t0
        timeline.append((total_seconds, acknowledged()))
        killed_at = events.get("primary killed", (total_seconds, 0))[0]
        before = [t for t, c in timeline if t <= killed_at]
        after = [t for t, c in timeline if t > killed_at]
        last_before = before[-1] if before else 0.0
        first_after = after[0] if after else float("nan")
        gaps = [b[0] - a[0] for a, b in zip(timeline, timeline[1:])]
        verifications = []
        for n in nodes[:2]:
            out = subprocess.run([hardening, "verify", "%s:%d" % n, token_file, failover_corpus, acks, "300"],
                                 capture_output=True, text=True)
            verifications.append(json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else
                                 {"ok": False, "error": out.stderr[-300:]})
        on_new_primary = int(standby.psql("SELECT count(*) FROM newswire_article WHERE id = ANY(string_to_array("
                                          f"'{','.join(open(acks).read().split())}', ','))", db="newswire"))

        print_ingest_rows(args, bindir, load_at_start, ingest_rounds, single3_seconds,
                          cluster3_seconds, probed_seconds, loaded_probe, idle_probe, lags_ms, lags_changes, cpu_during, shipped, storage)
        single_get, single_search = rows[0][1], rows[0][2]
        for label, get, search in rows[1:]:
            print(f"| GET req/s, {label} | {single_get:,.0f} | {get:,.0f} | {ratio(get, single_get):.2f}× |")
            print(f"| SEARCH req/s, {label} | {single_search:,.0f} | {search:,.0f} | {ratio(search, single_search):.2f}× |")

        print("\n### Failover timeline\n")
        print(f"`newswire-hardening ingest` PUTs {args.failover_records} more records in batches of 20 through one "
              "client that knows nodes 1-3 (a failed node's requests go to another); acknowledged ids are appended "
              "to a file, fsynced, and the script timestamps each change of its length.\n")
        print("| t (s) | event | acknowledged records |")
        print("|---|---|---|")
        print("| 0.00 | load starts | 0 |")
        for name, (t, c) in sorted(events.items(), key=lambda e: e[1][0]):
            print(f"| {t:.2f} | {name} | {c} |")
        print(f"| {first_after:.2f} | first acknowledgement after the primary died | "
              f"{next((c for t, c in timeline if t > killed_at), 0)} |")
        print(f"| {total_seconds:.2f} | load ends (exit {driver.returncode}) | {timeline[-1][1]} |\n")
        print("| measurement | value |")
        print("|---|---|")
        print(f"| errors seen by the client | {0 if driver.returncode == 0 else driver_out.strip()[-200:] or driver_err.strip()[-200:]} |")
        print(f"| write pause: last acknowledgement before the primary died → first after | "
              f"{(first_after - last_before) * 1000:.0f} ms |")
        # Between acknowledgements: the wait for the first one is the client's start (reading the corpus,
        # connecting to every node), printed apart.
        outside = [(g, a) for (a, count), g in zip(timeline, gaps)
                   if count > 0 and not (last_before <= a < first_after)] or [(0, 0)]
        longest, longest_at = max(outside)
        first_ack = next((t for t, c in timeline if c > 0), float("nan"))
        print(f"| first acknowledgement after the load started (the client's start) | {first_ack * 1000:.0f} ms |")
        print(f"| longest gap between acknowledgements outside the failover (where it began) | "
              f"{longest * 1000:.0f} ms (t = {longest_at:.2f} s) |")
        for label, v in zip(["node 1", "node 2"], verifications):
            print(f"| acknowledged records missing or different on {label} (of {v.get('acknowledged', '?')}); "
                  f"index sample not found | {v.get('missing', '?')} + {v.get('different', '?')}; "
                  f"{v.get('unindexed', '?')} of {v.get('index_sample', '?')} |")
        print(f"| acknowledged records on the promoted standby | {on_new_primary} of {timeline[-1][1]} |")

        shown = []
        for a in sys.argv[1:]:
            shown.append("DIR" if os.path.isabs(a) else a)
        print("\nCommands: `benchmarks/cluster/run.py " + " ".join(shown) + "`; each bench: `newswire bench --mix get=1|search=1 "
              f"-c 16 -p 4 -d {args.seconds}s --threads 2 --queries benchmarks/protocol/queries.txt`. "
              "Nodes are benched one after another (one machine).")
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
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
