"""Shared plumbing for the protocol benchmarks: build, machine facts, servers, `newswire bench`, tables.

Every script prints a Markdown table with the machine and the exact commands, so its output can be pasted into
BENCHMARKS.md as is.
"""
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus", "zh-news.jsonl")
SCRATCH = os.path.join(ROOT, ".build-release")
BIN = os.path.join(SCRATCH, "release")
NEWSWIRE = os.path.join(BIN, "newswire")
NEWSWIRED = os.environ.get("NEWSWIRED_BIN", os.path.join(BIN, "newswired"))
COMMANDS = []
# Commands prefixed to every load generator (e.g. `taskset -c 0`, set by a script's `--pin`).
GENERATOR_PREFIX = []


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(cmd, record=True, **kwargs):
    if record:
        COMMANDS.append(" ".join(cmd))
    return subprocess.run(cmd, check=True, **kwargs)


def build():
    for product in ("newswired", "newswire"):
        subprocess.run(
            ["swift", "build", "-c", "release", "--scratch-path", SCRATCH, "--product", product],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def require_corpus():
    if not os.path.exists(CORPUS):
        sys.exit(f"skipped: the corpus is not at {CORPUS} (see the common brief); nothing to benchmark")


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    swift = next((l for l in swift if "Swift version" in l), "swift ?").strip()
    facts = {
        "cpu": f"{model}, {os.cpu_count()} cores (nproc)",
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "kernel": platform.release(),
        "swift": swift,
    }
    if shutil.which("redis-server"):
        facts["redis"] = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    facts["load average at start"] = f"{load[0]:.2f} (other work on the machine shares the cores)"
    return facts


def print_machine():
    print("### Machine\n")
    for key, value in machine().items():
        print(f"- {key}: {value}")
    print()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=120, process=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Newswired:
    """A release `newswired` on a fresh (or given) data directory, on a free loopback port."""

    def __init__(self, data_dir=None, extra=(), prefix=()):
        self.temp = None
        if data_dir is None:
            self.temp = tempfile.mkdtemp(prefix="newswire-bench-")
            data_dir = os.path.join(self.temp, "data")
        self.data_dir = data_dir
        self.port = free_port()
        cmd = [*prefix, NEWSWIRED, "--data-dir", data_dir, "--port", str(self.port), "--no-seeds", "--log-level",
               "warning", *extra]
        COMMANDS.append(" ".join(cmd))
        self.log = open(os.path.join(self.temp or tempfile.gettempdir(), "newswired.log"), "ab")
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        wait_for_port(self.port, process=self.process)

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.temp:
            shutil.rmtree(self.temp, ignore_errors=True)


def ingest_jsonl(port, path, concurrency=32):
    """Times `newswire ingest --jsonl`; returns (seconds, parsed JSON summary)."""
    cmd = [NEWSWIRE, "ingest", "--port", str(port), "--jsonl", "--json", "--concurrency", str(concurrency), path]
    COMMANDS.append(" ".join(cmd))
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - started, json.loads(out.strip().splitlines()[-1])


def bench(port, args, server_pid=None):
    """Runs `newswire bench --json` and returns its result."""
    cmd = [*GENERATOR_PREFIX, NEWSWIRE, "bench", "--port", str(port), "--json", *args]
    if server_pid:
        cmd += ["--server-pid", str(server_pid)]
    COMMANDS.append(" ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"bench failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def first_records(count):
    with open(CORPUS, encoding="utf-8") as f:
        records = []
        for line in f:
            records.append(line.rstrip("\n"))
            if len(records) == count:
                break
    return records


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def rerunnable(command):
    """The command as anyone can rerun it from the repository root: what this run picked for itself (temporary
    directories, free ports, process ids) becomes $DATA, $TMP, $PORT, $REDIS_PORT and $SERVER_PID."""
    import re
    import tempfile
    shown = command.replace(ROOT + "/", "").replace(os.path.dirname(ROOT) + "/", "../")
    shown = re.sub(r"--data-dir \S+", "--data-dir $DATA", shown)
    shown = re.sub(re.escape(tempfile.gettempdir()) + r"/[^/\s]+/", "$TMP/", shown)
    # `newswire bench --resp-keys` drives redis-server.
    to_redis = shown.startswith("redis") or "--resp-keys" in shown
    port = "$REDIS_PORT" if to_redis else "$PORT"
    shown = re.sub(r"(--port|-p) \d{4,5}\b", lambda m: f"{m.group(1)} {port}", shown)
    shown = re.sub(r"--server-pid \d+", "--server-pid " + ("$REDIS_PID" if to_redis else "$SERVER_PID"), shown)
    return shown


def print_commands():
    print("\n### Commands\n")
    print("```")
    seen = set()
    for command in COMMANDS:
        shown = rerunnable(command)
        if shown not in seen:
            seen.add(shown)
            print(shown)
    print("```")


def fmt_rate(value):
    return f"{value:,.0f}"


def fmt_us(value):
    return f"{value:,.0f} µs" if value >= 100 else f"{value:.1f} µs"
