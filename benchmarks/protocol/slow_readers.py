#!/usr/bin/env python3
"""Server memory under peers that never read: each connection pipelines 128 large SEARCHes and reads nothing.

For each newswired binary given (e.g. a build before and after a change), in the same run: a fresh server is loaded
with the first --records corpus records, then --connections raw sockets (4 KiB receive buffers) each send HELLO
(no compression) and 128 SEARCH requests for a common term with limit 10,000 and snippets, and never read. The
server's resident memory (VmRSS) is sampled until it stops growing; then a fresh client checks the server still
answers a PING. PROTOCOL.md §9 bounds queued answers at 8 MiB per connection and 256 MiB per server.

Usage: python3 benchmarks/protocol/slow_readers.py [[LABEL=]BIN[,...]] [--connections 50,200] [--records 3000]
(default binary: .build-release/release/newswired; `newswire` for loading comes from the same place unless
--newswire is given).
"""
import argparse
import os
import shutil
import socket
import struct
import tempfile
import time

import harness as h


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(opcode, request_id, payload):
    return struct.pack(">BBHII", 1, 0, opcode, request_id, len(payload)) + payload


def hello():
    name = b"slow-reader"
    return frame(0x0001, 0, b"\x08\x01\x10\x01\x1a" + varint(len(name)) + name)


def search(request_id, text):
    query = text.encode()
    payload = b"\x0a" + varint(len(query)) + query + b"\x38" + varint(10_000) + b"\x40\x01"
    return frame(0x0005, request_id, payload)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def settle(pid, quiet_seconds=3, limit_seconds=300):
    """Samples RSS until the server has been idle (under 5% of a core) for quiet_seconds: it has done all the work
    the peers gave it, and holds what it holds. Returns the peak RSS and whether it settled within limit_seconds."""
    peak, started = rss_bytes(pid), time.time()
    window = [(time.time(), h.cpu_seconds(pid))]
    while time.time() - started < limit_seconds:
        time.sleep(0.25)
        peak = max(peak, rss_bytes(pid))
        window.append((time.time(), h.cpu_seconds(pid)))
        while window[-1][0] - window[0][0] > quiet_seconds + 0.3:
            window.pop(0)
        elapsed = window[-1][0] - window[0][0]
        if elapsed >= quiet_seconds and (window[-1][1] - window[0][1]) / elapsed < 0.05:
            return peak, True
    return peak, False


def answers_ping(port):
    """True when a fresh connection completes the handshake and gets its PONG within 30 s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(hello() + frame(0x0002, 1, b""))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
                while len(data) >= 12:
                    _, _, opcode, request_id, length = struct.unpack(">BBHII", data[:12])
                    if len(data) < 12 + length:
                        break
                    data = data[12 + length:]
                    if opcode == 0x8002 and request_id == 1:
                        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="?", default=h.NEWSWIRED)
    parser.add_argument("--connections", default="50,200")
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--query", default="中国")
    parser.add_argument("--newswire", default=h.NEWSWIRE, help="the newswire CLI used to load the records")
    args = parser.parse_args()
    h.require_corpus()
    h.NEWSWIRE = args.newswire
    temp = tempfile.mkdtemp(prefix="newswire-slow-readers-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(h.first_records(args.records)) + "\n")
    counts = [int(c) for c in args.connections.split(",")]
    rows = []
    try:
        for entry in args.binaries.split(","):
            label, _, binary = entry.rpartition("=")
            label = label or h.rerunnable(binary)
            for count in counts:
                h.NEWSWIRED = binary
                server = h.Newswired(extra=["--max-connections", str(max(count + 16, 1024))])
                sockets = []
                try:
                    h.ingest_jsonl(server.port, jsonl)
                    if not answers_ping(server.port):
                        raise RuntimeError("server does not answer before the test")
                    before, _ = settle(server.pid)
                    requests = hello() + b"".join(search(i, args.query) for i in range(1, 129))
                    for _ in range(count):
                        s = socket.socket()
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                        s.connect(("127.0.0.1", server.port))
                        s.setblocking(False)
                        try:
                            s.send(requests)  # whatever the kernel takes; the peer never reads
                        except BlockingIOError:
                            pass
                        sockets.append(s)
                    peak, settled = settle(server.pid)
                    served = answers_ping(server.port)
                    growth = peak - before
                    rows.append([label, count,
                                 f"{before / 2**20:,.0f}", f"{peak / 2**20:,.0f}", f"{growth / 2**20:,.0f}",
                                 f"{growth / count / 2**20:,.2f}", "yes" if settled else "no (300 s)", "yes" if served else "no",
                                 f"{os.getloadavg()[0]:.1f}"])
                    h.log(f"{label} × {count}: +{growth / 2**20:,.0f} MiB")
                finally:
                    for s in sockets:
                        s.close()
                    server.stop()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    h.print_machine()
    print(h.table(["build", "non-reading connections", "RSS before (MiB)", "RSS peak (MiB)", "growth (MiB)",
                   "growth per connection (MiB)", "server idle at the end", "PING answered after", "load average"], rows))
    h.print_commands()


if __name__ == "__main__":
    main()
