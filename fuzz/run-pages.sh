#!/usr/bin/env bash
# Builds the libFuzzer target for the page parser (ArticleExtraction) and runs it.
#
#   fuzz/run-pages.sh [SECONDS] [extra libFuzzer flags...]      (default 60 seconds)
#
# Same build as fuzz/run.sh: the modules are compiled by SwiftPM with -sanitize=fuzzer,address into .build-fuzz
# (release), then fuzz/FuzzPageParser.swift is linked against their object files and libxml2. The corpus lives
# in fuzz/corpus-pages/ (seeded from seeds/ and, when present, ../shared/extraction-dev/pages; git-ignored);
# crashers land in fuzz/artifacts/. Keep a crasher as a regression test in
# Tests/ArticleExtractionTests/FuzzRegressionTests.swift.
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
shift || true
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRATCH=.build-fuzz
OUT="$SCRATCH/fuzz-pages"

echo "== building instrumented modules (swift build -c release --scratch-path $SCRATCH)"
swift build -c release --scratch-path "$SCRATCH" --target ArticleExtraction \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address

BIN="$SCRATCH/release"
OBJECTS=()
for module in NewswireModel ArticleExtraction; do
    while IFS= read -r -d '' object; do OBJECTS+=("$object"); done < <(find "$BIN/$module.build" -name '*.o' -print0)
done
XML_CFLAGS=$(pkg-config --cflags-only-I libxml-2.0)

echo "== linking $OUT (${#OBJECTS[@]} objects)"
swiftc -O -parse-as-library -sanitize=fuzzer,address -I "$BIN/Modules" \
    -Xcc "-fmodule-map-file=$ROOT/Sources/CLibXML2/module.modulemap" $(for f in $XML_CFLAGS; do echo -Xcc "$f"; done) \
    fuzz/FuzzPageParser.swift "${OBJECTS[@]}" -lxml2 -o "$OUT" 2>&1 | { grep -v "Cannot export local symbol" || true; }

CORPUS=fuzz/corpus-pages
mkdir -p "$CORPUS" fuzz/artifacts
# Seed: byte 0 (charset/url selector) = 0, then each real page; pages over 64 KiB are cut (fuzzing speed).
python3 - "$CORPUS" <<'PY'
import sys, pathlib, hashlib
out = pathlib.Path(sys.argv[1])
sources = list(pathlib.Path("seeds").glob("*")) + list(pathlib.Path("../shared/extraction-dev/pages").glob("*"))
for path in sources:
    if path.is_file():
        seed = b"\x00" + path.read_bytes()[: 64 << 10]
        (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
print(f"seeded {len(sources)} pages")
PY

echo "== fuzzing for $SECONDS_TO_RUN s"
"$OUT" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "$@"
