#!/usr/bin/env bash
# Codec micro-benchmark: frames encoded/decoded per second with and without zlib, against Foundation JSON as
# the peer, and bytes on the wire for a typical corpus record and a search page.
#
#   benchmarks/protocol/run.sh            (about 25 s of measurement; prints a markdown table)
#
# Builds NewswireProtocol in release mode (scratch path .build-release) and links main.swift against its
# object files with swiftc -O, so the benchmark needs no Package.swift target.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
SCRATCH=.build-release
swift build -c release --scratch-path "$SCRATCH" --target NewswireProtocol >&2
BIN="$SCRATCH/release"
OBJECTS=()
for module in _AtomicsShims NIOCore _NIODataStructures _NIOBase64 NIOConcurrencyHelpers CNIOLinux CNIOAtomics Atomics \
    DequeModule InternalCollectionsUtilities ContainersPreview NewswireModel NewswireProtocol; do
    if [ -d "$BIN/$module.build" ]; then
        while IFS= read -r -d '' object; do OBJECTS+=("$object"); done < <(find "$BIN/$module.build" -name '*.o' -print0)
    fi
done
MAPS=(-Xcc "-fmodule-map-file=$ROOT/Sources/CZlib/module.modulemap")
for map in "$BIN"/*.build/module.modulemap "$SCRATCH"/checkouts/swift-atomics/Sources/_AtomicsShims/include/module.modulemap; do
    if [ -f "$map" ]; then MAPS+=(-Xcc "-fmodule-map-file=$map"); fi
done
OUT="$SCRATCH/protocol-bench"
swiftc -O -I "$BIN/Modules" "${MAPS[@]}" benchmarks/protocol/main.swift "${OBJECTS[@]}" -lz -o "$OUT" >&2
"$OUT" "$ROOT"
