#!/usr/bin/env python3
"""An independent decoder for Newswire v1, written from PROTOCOL.md alone, run against proto-docs/vectors.

It shares no code with the Swift implementation: it parses frame headers (§3), inflates with Python's zlib under
the §10 rules, decodes payloads with the field tables of §5/§6 (Appendix A), and checks that
  * every valid vector's header, inflated payload and decoded meaning match the file (valid.json, session.json);
  * every invalid vector is rejected at its stated stage with its stated error code;
  * every frame the exchanges (exchanges.json) send decodes, and their expected answers name known opcodes and codes.

With --server it also plays exchanges.json against a running server (one that starts with an empty store and needs
no token) and checks every answer, as a client written from the spec alone would see them:

    python3 proto-docs/reference/check_vectors.py                           # exit status 0 when every vector agrees
    python3 proto-docs/reference/check_vectors.py --server 127.0.0.1:7070   # and a live server answers as specified
"""
import json
import socket
import struct
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


class ProtoError(Exception):
    def __init__(self, code, why):
        super().__init__(f"{code}: {why}")
        self.code = code


PROTOCOL_ERROR, UNSUPPORTED_VERSION, FRAME_TOO_LARGE, DECOMPRESSION_FAILED, DECOMPRESSED_TOO_LARGE = 1, 2, 3, 4, 5
MALFORMED, UNKNOWN_OPCODE = 16, 17

# --- §5 schemas: field number -> (name, kind, repeated). Kinds: uint, int64, sint, bool, enum, double, string,
# bytes, or a message name. "req" marks required fields (§5.3, Appendix A notes).
S = {
    "PublishedTime": {1: ("seconds", "sint", False), 2: ("utc_offset", "sint", False)},
    "Article": {1: ("id", "string", False), 2: ("url", "string", False), 3: ("title", "string", False),
                4: ("subtitles", "string", True), 5: ("published_at", "PublishedTime", False),
                6: ("source", "string", False), 7: ("reporters", "string", True), 8: ("editors", "string", True),
                9: ("participants", "string", True), 10: ("paragraphs", "string", True),
                11: ("clicks", "int64", False), 12: ("language", "string", False),
                13: ("duplicate_of", "string", False)},
    "Hello": {1: ("min_version", "uint", False), 2: ("max_version", "uint", False), 3: ("client_name", "string", False),
              4: ("compressions", "enum", True), 5: ("token", "string", False), 6: ("max_frame_length", "uint", False)},
    "Welcome": {1: ("version", "uint", False), 2: ("server_name", "string", False), 3: ("compression", "enum", False),
                4: ("compression_threshold", "uint", False), 5: ("max_frame_length", "uint", False),
                6: ("max_decompressed_length", "uint", False), 7: ("max_in_flight", "uint", False)},
    "Ping": {1: ("payload", "bytes", False)},
    "Get": {1: ("id", "string", False), 15: ("min_position", "uint", False)},
    "ArticleResponse": {1: ("article", "Article", False)},
    "GetMany": {1: ("ids", "string", True), 15: ("min_position", "uint", False)},
    "Articles": {1: ("articles", "Article", True), 2: ("missing", "string", True)},
    "Search": {1: ("text", "string", False), 2: ("sources", "string", True), 3: ("published_from", "PublishedTime", False),
               4: ("published_before", "PublishedTime", False), 5: ("sort", "enum", False), 6: ("offset", "uint", False),
               7: ("limit", "uint", False), 8: ("include_snippets", "bool", False), 9: ("snippet_length", "uint", False),
               10: ("facets", "enum", True), 11: ("facet_limit", "uint", False), 15: ("min_position", "uint", False)},
    "SearchHit": {1: ("id", "string", False), 2: ("title", "string", False), 3: ("source", "string", False),
                  4: ("published_at", "PublishedTime", False), 5: ("score", "double", False),
                  6: ("snippet", "string", False), 7: ("highlights", "uint", True)},
    "FacetCount": {1: ("value", "string", False), 2: ("count", "uint", False)},
    "Facet": {1: ("field", "enum", False), 2: ("counts", "FacetCount", True)},
    "SearchPage": {1: ("total", "uint", False), 2: ("hits", "SearchHit", True), 3: ("facets", "Facet", True),
                   4: ("took_micros", "uint", False)},
    "Related": {1: ("id", "string", False), 2: ("limit", "uint", False)},
    "Ingest": {1: ("page", "bytes", False), 2: ("url", "string", False), 3: ("charset", "string", False),
               4: ("dry_run", "bool", False)},
    "IngestResult": {1: ("article", "Article", False), 2: ("outcome", "enum", False)},
    "Put": {1: ("articles", "Article", True)},
    "RecordRejection": {1: ("index", "uint", False), 2: ("id", "string", False), 3: ("reason", "string", False)},
    "PutResult": {1: ("created", "uint", False), 2: ("updated", "uint", False), 3: ("unchanged", "uint", False),
                  4: ("rejected", "RecordRejection", True), 15: ("commit_position", "uint", False)},
    "Delete": {1: ("ids", "string", True)},
    "DeleteResult": {1: ("deleted", "uint", False), 2: ("missing", "string", True), 15: ("commit_position", "uint", False)},
    "Scan": {1: ("order", "enum", False), 2: ("cursor", "bytes", False), 3: ("published_from", "PublishedTime", False),
             4: ("published_before", "PublishedTime", False), 5: ("limit", "uint", False), 6: ("ids_only", "bool", False)},
    "ScanBatch": {1: ("articles", "Article", True), 2: ("ids", "string", True), 3: ("next_cursor", "bytes", False)},
    "Stat": {1: ("name", "string", False), 2: ("integer", "sint", False), 3: ("double", "double", False),
             4: ("text", "string", False)},
    "StatsResult": {1: ("entries", "Stat", True)},
    "Error": {1: ("code", "uint", False), 2: ("retryable", "bool", False), 3: ("message", "string", False),
              4: ("min_version", "uint", False), 5: ("max_version", "uint", False), 6: ("retry_after_ms", "uint", False),
              7: ("position", "uint", False)},
    "GoAway": {1: ("code", "uint", False), 2: ("message", "string", False), 3: ("grace_ms", "uint", False)},
    "Watch": {1: ("text", "string", False), 2: ("sources", "string", True), 3: ("published_from", "PublishedTime", False),
              4: ("published_before", "PublishedTime", False), 5: ("start", "enum", False), 6: ("position", "uint", False),
              7: ("store", "string", False), 8: ("include_article", "bool", False), 9: ("include_snippets", "bool", False),
              10: ("snippet_length", "uint", False), 11: ("buffer_events", "uint", False),
              12: ("report_unmatched", "bool", False)},
    "WatchEvent": {1: ("position", "uint", False), 2: ("kind", "enum", False), 3: ("hit", "SearchHit", False),
                   4: ("article", "Article", False), 5: ("store", "string", False)},
    "Empty": {},
}
REQUIRED = {"Article": ["id"], "Get": ["id"], "Related": ["id"], "SearchHit": ["id"], "Stat": ["name"],
            "Error": ["code"], "GoAway": ["code"], "Hello": ["min_version", "max_version"], "Ingest": ["page"],
            "ArticleResponse": ["article"], "IngestResult": ["article"], "Welcome": ["version"]}
ENUM_LIMITS = {("Search", "sort"): 2, ("Search", "facets"): 2, ("Facet", "field"): 2, ("Scan", "order"): 1, ("Watch", "start"): 2}
OPCODES = {0x0001: "Hello", 0x0002: "Ping", 0x0003: "Get", 0x0004: "GetMany", 0x0005: "Search", 0x0006: "Related",
           0x0007: "Ingest", 0x0008: "Put", 0x0009: "Delete", 0x000A: "Scan", 0x000B: "Empty", 0x000C: "Empty",
           0x000D: "Watch", 0x800D: "WatchEvent",
           0x8000: "Error", 0x8001: "Welcome", 0x8002: "Ping", 0x8003: "ArticleResponse", 0x8004: "Articles",
           0x8005: "SearchPage", 0x8006: "SearchPage", 0x8007: "IngestResult", 0x8008: "PutResult",
           0x8009: "DeleteResult", 0x800A: "ScanBatch", 0x800B: "StatsResult", 0x80FF: "GoAway"}
NAMES = {0x0001: "HELLO", 0x0002: "PING", 0x0003: "GET", 0x0004: "GET_MANY", 0x0005: "SEARCH", 0x0006: "RELATED",
         0x0007: "INGEST", 0x0008: "PUT", 0x0009: "DELETE", 0x000A: "SCAN", 0x000B: "STATS", 0x000C: "CANCEL", 0x000D: "WATCH", 0x800D: "WATCH_EVENT",
         0x8000: "ERROR", 0x8001: "WELCOME", 0x8002: "PONG", 0x8003: "ARTICLE", 0x8004: "ARTICLES",
         0x8005: "SEARCH_RESULT", 0x8006: "RELATED_RESULT", 0x8007: "INGEST_RESULT", 0x8008: "PUT_RESULT",
         0x8009: "DELETE_RESULT", 0x800A: "SCAN_BATCH", 0x800B: "STATS_RESULT", 0x80FF: "GOAWAY"}
ERROR_NAMES = {1: "PROTOCOL_ERROR", 2: "UNSUPPORTED_VERSION", 3: "FRAME_TOO_LARGE", 4: "DECOMPRESSION_FAILED",
               5: "DECOMPRESSED_TOO_LARGE", 6: "TIMEOUT", 16: "MALFORMED_MESSAGE", 17: "UNKNOWN_OPCODE",
               18: "UNAUTHORISED", 19: "NOT_FOUND", 20: "BAD_QUERY", 21: "PARSE_FAILED", 22: "INVALID_RECORD",
               23: "LIMIT_EXCEEDED", 24: "CANCELLED", 25: "UNKNOWN_POSITION", 32: "OVERLOADED", 33: "SHUTTING_DOWN", 34: "INTERNAL",
               35: "STORAGE_FULL"}


# --- §3 frames and §10 compression

def read_frame(data, max_frame, max_decompressed):
    if len(data) < 12:
        raise ValueError("incomplete header")
    version, flags, opcode, request_id, length = struct.unpack(">BBHII", data[:12])
    if version != 1:
        raise ProtoError(UNSUPPORTED_VERSION, f"version {version}")
    if flags & 0xFC:
        raise ProtoError(PROTOCOL_ERROR, "reserved flag")
    if length > max_frame:
        raise ProtoError(FRAME_TOO_LARGE, f"length {length}")
    if flags & 1 and length < 4:
        raise ProtoError(PROTOCOL_ERROR, "compressed payload too short")
    if len(data) < 12 + length:
        raise ValueError("incomplete payload")
    payload = data[12:12 + length]
    if flags & 1:
        declared = struct.unpack(">I", payload[:4])[0]
        if declared > max_decompressed:
            raise ProtoError(DECOMPRESSED_TOO_LARGE, f"declares {declared}")
        inflater = zlib.decompressobj(15)
        try:
            out = inflater.decompress(payload[4:], declared + 1)  # never more than declared + 1 bytes
        except zlib.error as e:
            raise ProtoError(DECOMPRESSION_FAILED, str(e))
        if len(out) > declared or not inflater.eof or inflater.unused_data or inflater.unconsumed_tail \
                or len(out) != declared:
            raise ProtoError(DECOMPRESSION_FAILED, "length mismatch, truncated or trailing bytes")
        payload = out
    return dict(version=version, flags=flags, opcode=opcode, request_id=request_id, length=length), payload, \
        data[12 + length:]


# --- §5 fields

def varint(buf, pos):
    result, shift = 0, 0
    for i in range(10):
        if pos >= len(buf):
            raise ProtoError(MALFORMED, "truncated varint")
        b = buf[pos]
        pos += 1
        if i == 9 and b > 1:
            raise ProtoError(MALFORMED, "varint overflow")
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    raise ProtoError(MALFORMED, "varint longer than 10 bytes")


def unzigzag(n):
    return (n >> 1) ^ -(n & 1)


def decode(message, buf):
    schema, out, pos = S[message], {}, 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0 or wire not in (0, 1, 2, 5):
            raise ProtoError(MALFORMED, f"field {number} wire type {wire}")
        if number not in schema:  # §5.3 rule 1: skip unknown fields
            if wire == 0:
                _, pos = varint(buf, pos)
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                n, pos = varint(buf, pos)
                pos += n
            if pos > len(buf):
                raise ProtoError(MALFORMED, "unknown field runs past the end")
            continue
        name, kind, repeated = schema[number]
        values = []
        if kind in ("uint", "int64", "sint", "bool", "enum") and wire == 2 and repeated:  # packed
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise ProtoError(MALFORMED, "packed field past the end")
            end, inner = pos + n, pos
            while inner < end:
                v, inner = varint(buf[:end], inner)
                values.append(v)
            pos = end
        elif kind in ("uint", "int64", "sint", "bool", "enum"):
            if wire != 0:
                raise ProtoError(MALFORMED, f"{message}.{name}: wire type {wire}")
            v, pos = varint(buf, pos)
            values.append(v)
        elif kind == "double":
            if wire != 1 or pos + 8 > len(buf):
                raise ProtoError(MALFORMED, f"{message}.{name}: bad double")
            values.append(struct.unpack("<d", buf[pos:pos + 8])[0])
            pos += 8
        else:
            if wire != 2:
                raise ProtoError(MALFORMED, f"{message}.{name}: wire type {wire}")
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise ProtoError(MALFORMED, f"{message}.{name}: length past the end")
            raw = bytes(buf[pos:pos + n])
            pos += n
            if kind == "string":
                try:
                    values.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise ProtoError(MALFORMED, f"{message}.{name}: invalid UTF-8")
            elif kind == "bytes":
                values.append(raw)
            else:
                values.append(raw)  # nested: decoded lazily for Article records (§5.5), eagerly otherwise
        for v in values:
            if kind == "sint":
                v = unzigzag(v)
            elif kind == "int64" and v >= 1 << 63:
                v -= 1 << 64
            elif kind == "bool":
                if v > 1:
                    raise ProtoError(MALFORMED, f"{message}.{name}: boolean {v}")
                v = v == 1
            elif kind == "enum" and (message, name) in ENUM_LIMITS and v > ENUM_LIMITS[(message, name)]:
                raise ProtoError(MALFORMED, f"{message}.{name}: unknown enum {v}")
            elif kind not in ("uint", "int64", "enum", "double", "string", "bytes") and kind in S and kind != "Article":
                v = decode(kind, v)
            if repeated:
                out.setdefault(name, []).append(v)
            else:
                out[name] = v
    for name in REQUIRED.get(message, []):
        if name not in out or (message == "Article" and out[name] == ""):
            raise ProtoError(MALFORMED, f"{message}: missing {name}")
    if message == "SearchHit" and len(out.get("highlights", [])) % 2:
        raise ProtoError(MALFORMED, "odd highlights")
    return out


# --- meaning (§12): the JSON shape the Swift vectors use

def iso(t):
    if t is None:
        return None
    offset = t.get("utc_offset", 0)
    local = datetime(1970, 1, 1) + timedelta(seconds=t.get("seconds", 0) + offset)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == 0:
        return text + "Z"
    sign, a = ("-" if offset < 0 else "+"), abs(offset)
    return f"{text}{sign}{a // 3600:02d}:{a % 3600 // 60:02d}"


def article(raw):
    a = decode("Article", raw)
    return {"id": a["id"], "url": a.get("url"), "title": a.get("title", ""), "subtitles": a.get("subtitles", []),
            "publishedAt": iso(a.get("published_at")), "source": a.get("source"), "reporters": a.get("reporters", []),
            "editors": a.get("editors", []), "participants": a.get("participants", []),
            "paragraphs": a.get("paragraphs", []), "clicks": a.get("clicks"), "language": a.get("language"),
            "duplicateOf": a.get("duplicate_of")}


def hit(h):
    d = {"id": h["id"], "title": h.get("title", ""), "score": h.get("score", 0.0), "snippet": h.get("snippet", ""),
         "highlights": [{"start": s, "end": e} for s, e in zip(h.get("highlights", [])[::2],
                                                                 h.get("highlights", [])[1::2])]}
    if "source" in h:
        d["source"] = h["source"]
    if "published_at" in h:
        d["publishedAt"] = iso(h["published_at"])
    return d


def page(p):
    return {"total": p.get("total", 0), "hits": [hit(h) for h in p.get("hits", [])],
            "facets": [{"field": f.get("field", 0), "counts": [{"value": c.get("value", ""), "count": c.get("count", 0)}
                                                               for c in f.get("counts", [])]}
                       for f in p.get("facets", [])], "tookMicros": p.get("took_micros", 0)}


COMPRESSIONS = {0: "none", 1: "zlib"}
OUTCOMES = {0: "created", 1: "updated", 2: "unchanged", 3: "not stored"}
WATCH_STARTS = {0: "now", 1: "after position", 2: "beginning"}
WATCH_KINDS = {0: "new", 1: "updated", 2: "deleted", 3: "changed", 4: "started", 5: "unmatched"}


def with_position(d, key, m, field):
    """Feed positions (§5.18) appear in a meaning only when the message carries one."""
    if field in m:
        d[key] = m[field]
    return d


def meaning(opcode, m):
    h = lambda b: b.hex()
    if opcode == 0x0001:
        return {"minVersion": m["min_version"], "maxVersion": m["max_version"], "clientName": m.get("client_name", ""),
                "compressions": [COMPRESSIONS.get(c, f"compression#{c}") for c in m.get("compressions", [])],
                "maxFrameLength": m.get("max_frame_length", 0), "token": m.get("token")}
    if opcode in (0x0002, 0x8002):
        return {"payload": h(m.get("payload", b""))}
    if opcode == 0x0003:
        return with_position({"id": m["id"]}, "minPosition", m, "min_position")
    if opcode == 0x0004:
        return with_position({"ids": m.get("ids", [])}, "minPosition", m, "min_position")
    if opcode == 0x0009:
        return {"ids": m.get("ids", [])}
    if opcode == 0x0005:
        d = {"text": m.get("text", ""), "sources": m.get("sources", []), "sort": m.get("sort", 0),
             "offset": m.get("offset", 0), "limit": m.get("limit", 0), "includeSnippets": m.get("include_snippets", False),
             "snippetLength": m.get("snippet_length", 0), "facets": m.get("facets", []),
             "facetLimit": m.get("facet_limit", 0)}
        for key, field in (("publishedFrom", "published_from"), ("publishedBefore", "published_before")):
            if field in m:
                d[key] = iso(m[field])
        return with_position(d, "minPosition", m, "min_position")
    if opcode == 0x0006:
        return {"id": m["id"], "limit": m.get("limit", 0)}
    if opcode == 0x0007:
        return {"page": h(m["page"]), "url": m.get("url"), "charset": m.get("charset"), "dryRun": m.get("dry_run", False)}
    if opcode == 0x0008:
        return {"articles": [article(a) for a in m.get("articles", [])]}
    if opcode == 0x000A:
        return {"order": ["by date", "by id"][m.get("order", 0)], "cursor": h(m.get("cursor", b"")),
                "publishedFrom": iso(m.get("published_from")), "publishedBefore": iso(m.get("published_before")),
                "limit": m.get("limit", 0), "idsOnly": m.get("ids_only", False)}
    if opcode in (0x000B, 0x000C):
        return {}
    if opcode == 0x8000:
        d = {"code": m["code"], "codeName": ERROR_NAMES.get(m["code"], f"CODE_{m['code']}"),
             "retryable": m.get("retryable", False), "message": m.get("message", "")}
        if "min_version" in m and "max_version" in m:
            d["supportedVersions"] = [m["min_version"], m["max_version"]]
        if "retry_after_ms" in m:
            d["retryAfterMillis"] = m["retry_after_ms"]
        if "position" in m:
            d["position"] = m["position"]
        return d
    if opcode == 0x8001:
        return {"version": m["version"], "serverName": m.get("server_name", ""),
                "compression": COMPRESSIONS.get(m.get("compression", 0)),
                "compressionThreshold": m.get("compression_threshold", 0),
                "maxFrameLength": m.get("max_frame_length", 0),
                "maxDecompressedLength": m.get("max_decompressed_length", 0), "maxInFlight": m.get("max_in_flight", 0)}
    if opcode == 0x8003:
        return {"article": article(m["article"])}
    if opcode == 0x8004:
        return {"articles": [article(a) for a in m.get("articles", [])], "missing": m.get("missing", [])}
    if opcode in (0x8005, 0x8006):
        return page(m)
    if opcode == 0x8007:
        return {"article": article(m["article"]), "outcome": OUTCOMES.get(m.get("outcome", 0))}
    if opcode == 0x8008:
        return {"created": m.get("created", 0), "updated": m.get("updated", 0), "unchanged": m.get("unchanged", 0),
                "rejected": [{"index": r.get("index", 0), "id": r.get("id"), "reason": r.get("reason", "")}
                             for r in m.get("rejected", [])]} | with_position({}, "commitPosition", m, "commit_position")
    if opcode == 0x8009:
        return with_position({"deleted": m.get("deleted", 0), "missing": m.get("missing", [])}, "commitPosition", m,
                             "commit_position")
    if opcode == 0x800A:
        return {"articles": [article(a) for a in m.get("articles", [])], "ids": m.get("ids", []),
                "nextCursor": h(m.get("next_cursor", b""))}
    if opcode == 0x800B:
        entries = []
        for e in m.get("entries", []):
            kind = next((k for k in ("integer", "double", "text") if k in e), "integer")
            entries.append({"name": e["name"], kind: e.get(kind, 0)})
        return {"entries": entries}
    if opcode == 0x000D:
        return {"text": m.get("text", ""), "sources": m.get("sources", []),
                "publishedFrom": iso(m.get("published_from")), "publishedBefore": iso(m.get("published_before")),
                "start": WATCH_STARTS[m.get("start", 0)], "position": m.get("position", 0), "store": m.get("store"),
                "includeArticle": m.get("include_article", False), "includeSnippets": m.get("include_snippets", False),
                "snippetLength": m.get("snippet_length", 0), "bufferEvents": m.get("buffer_events", 0),
                "reportUnmatched": m.get("report_unmatched", False)}
    if opcode == 0x800D:
        kind = m.get("kind", 0)
        return {"position": m.get("position", 0), "kind": WATCH_KINDS.get(kind, f"kind#{kind}"),
                "hit": hit(m["hit"]) if "hit" in m else None,
                "article": article(m["article"]) if "article" in m else None, "store": m.get("store")}
    if opcode == 0x80FF:
        return {"code": m["code"], "codeName": ERROR_NAMES.get(m["code"], f"CODE_{m['code']}"),
                "message": m.get("message", ""), "graceMillis": m.get("grace_ms", 0)}
    raise ProtoError(UNKNOWN_OPCODE, hex(opcode))


# --- exchanges.json against a live server

class Peer:
    """A blocking connection that reads whole frames (§3) and inflates them (§10)."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.buf = b""

    def frame(self):
        """The next frame as (header, payload), or None when the server closed the connection."""
        while True:
            try:
                header, payload, rest = read_frame(self.buf, 1 << 30, 1 << 30)
                self.buf = rest
                return header, payload
            except ValueError:  # incomplete: read more
                try:
                    chunk = self.sock.recv(65536)
                except (ConnectionResetError, TimeoutError):  # a silent server counts as a missing answer
                    chunk = b""
                if not chunk:
                    return None
                self.buf += chunk


def answer_problems(want, frames):
    """What differs between an expected answer of exchanges.json and the frames its request id got."""
    problems = []
    names = [NAMES.get(h["opcode"], hex(h["opcode"])) for h, _ in frames]
    if any(n != want["opcode"] for n in names):
        problems.append(f"opcodes {names}, want {want['opcode']}")
        return problems
    messages = [decode(OPCODES[h["opcode"]], p) for h, p in frames]
    if "code" in want and messages[0].get("code") != want["code"]:
        problems.append(f"error code {messages[0].get('code')}, want {want['code']}")
    if "payloadBytesAtMost" in want:
        problems += [f"a frame of {h['length']} bytes" for h, _ in frames if h["length"] > want["payloadBytesAtMost"]]
    if "ids" in want:
        ids = []
        for m in messages:
            ids += m.get("ids", []) or [article(a)["id"] for a in m.get("articles", [])]
        if ids != want["ids"]:
            problems.append(f"ids {ids}, want {want['ids']}")
    if "created" in want and messages[0].get("created", 0) != want["created"]:
        problems.append(f"created {messages[0].get('created', 0)}, want {want['created']}")
    if "rejected" in want:
        got = [r.get("index", 0) for r in messages[0].get("rejected", [])]
        if got != want["rejected"]:
            problems.append(f"rejected {got}, want {want['rejected']}")
    if "total" in want and messages[0].get("total", 0) != want["total"]:
        problems.append(f"total {messages[0].get('total', 0)}, want {want['total']}")
    if "hits" in want and len(messages[0].get("hits", [])) != want["hits"]:
        problems.append(f"{len(messages[0].get('hits', []))} hits, want {want['hits']}")
    if "facetCounts" in want:
        facets = messages[0].get("facets", [])
        got = {c.get("value", ""): c.get("count", 0) for c in (facets[0].get("counts", []) if facets else [])}
        if got != want["facetCounts"]:
            problems.append(f"facet counts {got}, want {want['facetCounts']}")
    if "nextCursorEmpty" in want:
        cursor = messages[-1].get("next_cursor", b"")
        if (len(cursor) == 0) != want["nextCursorEmpty"]:
            problems.append(f"next_cursor {cursor!r}, want {'empty' if want['nextCursorEmpty'] else 'non-empty'}")
    if "scoresZero" in want:
        scores = [h.get("score", 0.0) for h in messages[0].get("hits", [])]
        if not all((s == 0) if want["scoresZero"] else (s > 0) for s in scores):
            problems.append(f"scores {scores}, want {'all 0' if want['scoresZero'] else 'all above 0'}")
    if "snippetCharactersAtLeast" in want:
        short = [h["id"] for h in messages[0].get("hits", [])
                 if len(h.get("snippet", "")) < want["snippetCharactersAtLeast"]]
        if short:
            problems.append(f"snippets shorter than {want['snippetCharactersAtLeast']} characters: {short}")
    return problems


def play(exchanges, host, port):
    """Plays every exchange in order, each on a new connection; returns what differed."""
    failures = []
    for x in exchanges:
        peer = Peer(host, port)
        for step in x["steps"]:
            peer.sock.sendall(bytes.fromhex(step["hex"]))
            for want in step["expect"]:
                frames = []
                while True:
                    got = peer.frame()
                    if got is None:
                        break
                    frames.append(got)
                    if got[0]["request_id"] != want["requestId"]:
                        failures.append(f"{x['name']}: an answer for request {got[0]['request_id']}, "
                                        f"want {want['requestId']}")
                    if not got[0]["flags"] & 2:
                        break
                if not frames:
                    failures.append(f"{x['name']}: no answer for request {want['requestId']} (connection closed, or "
                                    "nothing within the socket timeout)")
                    continue
                failures += [f"{x['name']}: {step['note']}: {p}" for p in answer_problems(want, frames)]
        if x["end"] == "closed":
            extra = []
            while (got := peer.frame()) is not None:
                extra.append(NAMES.get(got[0]["opcode"]))
            if extra:
                failures.append(f"{x['name']}: frames after the last answer: {extra}")
        peer.sock.close()
        print(f"exchange {x['name']}: played")
    return failures


def main():
    failures, checked = [], 0
    valid = json.loads((VECTORS / "valid.json").read_text())
    for v in valid["vectors"]:
        header, payload, rest = read_frame(bytes.fromhex(v["hex"]), 16 << 20, 64 << 20)
        want = v["header"]
        flags = [n for bit, n in ((1, "COMPRESSED"), (2, "MORE_TO_FOLLOW")) if header["flags"] & bit]
        got = {"version": header["version"], "flags": flags, "opcode": NAMES[header["opcode"]],
               "opcodeValue": header["opcode"], "requestId": header["request_id"], "payloadLength": header["length"]}
        if got != want or rest:
            failures.append(f"{v['name']}: header {got} != {want}")
        if payload.hex() != v["payloadHex"]:
            failures.append(f"{v['name']}: payload differs")
        m = meaning(header["opcode"], decode(OPCODES[header["opcode"]], payload))
        if m != v["meaning"]:  # dict equality: 10.0 == 10, so JSON number spelling does not matter
            failures.append(f"{v['name']}: meaning differs:\n  got  {m}\n  want {v['meaning']}")
        checked += 1
    invalid = json.loads((VECTORS / "invalid.json").read_text())
    for v in invalid["vectors"]:
        stage, code = "none", None
        try:
            header, payload, _ = read_frame(bytes.fromhex(v["hex"]), v["limits"]["maxFrameLength"],
                                            v["limits"]["maxDecompressedLength"])
            stage = "message"
            if header["opcode"] not in OPCODES:
                raise ProtoError(UNKNOWN_OPCODE, hex(header["opcode"]))
            if header["flags"] & 2 and not header["opcode"] & 0x8000:
                raise ProtoError(MALFORMED, "request with more-to-follow")  # §3.5
            message = decode(OPCODES[header["opcode"]], payload)
            stage = "record"
            meaning(header["opcode"], message)
            stage = "none"
        except ProtoError as e:
            code = e.code
            if stage == "none":
                stage = "frame"
        if (stage, code) != (v["stage"], v["error"]["code"]):
            failures.append(f"{v['name']}: rejected at {stage} with {code}, want {v['stage']} {v['error']['code']}")
        checked += 1
    session = json.loads((VECTORS / "session.json").read_text())
    for f in session["frames"]:
        header, payload, _ = read_frame(bytes.fromhex(f["hex"]), 16 << 20, 64 << 20)
        m = meaning(header["opcode"], decode(OPCODES[header["opcode"]], payload))
        if m != f["meaning"]:
            failures.append(f"session {f['note']}: meaning differs")
        checked += 1
    exchanges = json.loads((VECTORS / "exchanges.json").read_text())
    for x in exchanges["exchanges"]:
        for step in x["steps"]:
            try:
                header, payload, rest = read_frame(bytes.fromhex(step["hex"]), 16 << 20, 64 << 20)
                decode(OPCODES[header["opcode"]], payload)
                if rest:
                    raise ValueError("bytes after the frame")
            except (ProtoError, ValueError, KeyError) as e:
                # A frame sent to be refused at the frame level (its answer a code below 16) need not decode: a
                # compressed frame on a connection without compression is refused before it is inflated.
                if not any(w.get("opcode") == "ERROR" and w.get("code", 99) < 16 for w in step["expect"]):
                    failures.append(f"exchange {x['name']}: {step['note']}: does not decode: {e}")
            for answer in step["expect"]:
                if answer["opcode"] not in NAMES.values() or \
                        ("code" in answer and ERROR_NAMES.get(answer["code"]) != answer.get("codeName")):
                    failures.append(f"exchange {x['name']}: unknown answer {answer}")
            checked += 1
    if "--server" in sys.argv:
        host, port = sys.argv[sys.argv.index("--server") + 1].rsplit(":", 1)
        failures += play(exchanges["exchanges"], host, int(port))
    for failure in failures:
        print("FAIL", failure)
    print(f"{checked - len(failures)} of {checked} vectors agree with the independent decoder")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
