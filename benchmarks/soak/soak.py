#!/usr/bin/env python3
"""Soak: CONNECTIONS concurrent connections mixing reads and writes on loopback for a bounded time.

    benchmarks/soak/soak.py [--connections 1000] [--seconds 120] [--bin .build/debug]

Starts newswired on a free port (write token, empty data directory), runs newswire-hardening soak (one
NewswireClient per connection: 20% PUT, 30% GET, 30% SEARCH, 20% GET_MANY), and samples the server's resident
memory and open file descriptors every 5 s from /proc. Passes when the driver saw no errors, RSS over the second
half of the run stays within 25% of its value at the half-way mark, the fd count is steady while the clients are
connected, and it falls back to the idle count once they leave (no leaked sockets). Raises the soft fd limit
(ulimit -n) to the hard limit if it is too low for the run.
"""
import argparse, atexit, json, os, resource, shutil, signal, socket, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "debug"))
    args = parser.parse_args()
    need = args.connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"ulimit -n is {soft} (hard {hard}); {need} needed for {args.connections} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))
    work = tempfile.mkdtemp(prefix="newswire-soak-")
    atexit.register(shutil.rmtree, work, True)
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write("soak-token\n")
    port = free_port()
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [os.path.join(args.bin, "newswired"), "--port", str(port), "--data-dir", os.path.join(work, "data"),
         "--no-seeds", "--token-file", token_file, "--max-connections", str(args.connections + 64),
         "--log-level", "warning"], stdout=log, stderr=log)
    atexit.register(lambda: server.poll() is None and server.kill())
    deadline = time.monotonic() + 120
    while subprocess.run([os.path.join(args.bin, "newswire"), "ping", "--port", str(port)],
                         capture_output=True).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            log.flush()
            sys.exit("server did not start:\n" + open(log.name).read())
        time.sleep(0.2)
    idle_fds = fds(server.pid)
    print(f"machine: {os.cpu_count()} cores, "
          f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    print(f"command: newswire-hardening soak {port} TOKEN {args.connections} {args.seconds}  (fd soft limit "
          f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]})")
    samples = []
    started = time.monotonic()
    driver = subprocess.Popen(
        [os.path.join(args.bin, "newswire-hardening"), "soak", str(port), token_file, str(args.connections),
         str(args.seconds)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(f"{'t s':>6} {'server RSS MiB':>14} {'server fds':>10}")
    while driver.poll() is None:
        t = time.monotonic() - started
        samples.append((t, rss_mib(server.pid), fds(server.pid)))
        print(f"{t:>6.0f} {samples[-1][1]:>14.1f} {samples[-1][2]:>10}", flush=True)
        time.sleep(5)
    output = driver.stdout.read().strip()
    print(output)
    time.sleep(2)
    after_fds = fds(server.pid)
    after_rss = rss_mib(server.pid)
    server.send_signal(signal.SIGTERM)
    exit_code = server.wait(timeout=120)

    result = json.loads(output.splitlines()[-1]) if output else {"errors": {"no output": 1}}
    loaded = [s for s in samples if 10 <= s[0] <= args.seconds - 5]
    half = [s for s in loaded if s[0] >= args.seconds / 2]
    rss_mid = half[0][1] if half else 0
    rss_growth = (max(s[1] for s in half) / rss_mid - 1) if half and rss_mid else 0
    fd_values = [s[2] for s in loaded]
    fd_spread = (max(fd_values) - min(fd_values)) if fd_values else 0
    checks = {
        "no client errors": not result.get("errors"),
        f"RSS growth over the second half {rss_growth * 100:.1f}% <= 25%": rss_growth <= 0.25,
        f"fds while loaded steady (spread {fd_spread}) <= 16": fd_spread <= 16,
        f"fds back to idle ({idle_fds} idle, {after_fds} after)": after_fds <= idle_fds + 4,
        f"SIGTERM exit {exit_code}": exit_code == 0,
    }
    print(f"operations {result.get('operations')} in {args.seconds} s "
          f"({(result.get('operations') or 0) / args.seconds:.0f}/s); final RSS {after_rss:.1f} MiB")
    for name, ok in checks.items():
        print(("ok   " if ok else "FAIL ") + name)
    passed = all(checks.values())
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
