#!/usr/bin/env bash
# Run the suite on the oldest versions pyproject.toml's base ranges admit (dev tools at CI's pins), in a
# throwaway venv. Run it when a lower bound changes: a bound the suite was never run on is a guess.
# test_quality is left out: mypy's verdict depends on the installed numpy's stubs, not on the SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import re, sys, tomllib
from pathlib import Path
tmp = Path(sys.argv[1])
lows = {}
for line in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?[^;]*?>=\s*([^,;\s]+)", line)
    if m:
        lows[m.group(1).lower().replace("_", "-")] = m.group(3)
pins = [f"{n}=={v}" for n, v in lows.items()]
# The dev extra's own tools keep CI's versions; everything else resolves around the lower bounds.
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
tools = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in project["optional-dependencies"]["dev"]}
for line in Path("constraints/dev.txt").read_text().splitlines():
    if line.partition("==")[0].lower().replace("_", "-") in tools:
        pins.append(line)
(tmp / "lowest.txt").write_text("\n".join(pins) + "\n")
print("lower bounds:", " ".join(f"{n}=={v}" for n, v in lows.items()))
PY
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -c "$tmp/lowest.txt" -e '.[dev]'
"$tmp/venv/bin/pytest" -q -p no:cacheprovider --deselect tests/test_quality.py "$@"
