#!/usr/bin/env bash
# Run the suite on the oldest versions pyproject.toml's ranges admit, in a throwaway venv: the base
# dependencies and every extra that `dev` pulls in (postgres, local, skills, ..., wordllama) at their lower
# bounds, the dev extra's own tools (pytest, mypy, ...) at CI's pins. Run it when a lower bound changes: a
# bound the suite was never run on is a guess. Arguments go to pytest (e.g. -n 2, -x, a test path).
# test_quality is left out: mypy's verdict depends on the installed numpy's stubs, not on the SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import re, sys, tomllib
from pathlib import Path

tmp = Path(sys.argv[1])
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
REQ = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?([^;]*)")


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def expand(extra: str, seen: set[str]) -> list[str]:
    """An extra's requirements, with phase3-sdk[a,b] (an extra naming others) expanded in place."""
    out: list[str] = []
    for line in extras[extra]:
        name, inner, _ = REQ.match(line).groups()
        if canon(name) == canon(project["name"]):
            for other in (e.strip() for e in (inner or "").split(",")):
                if other and other not in seen:
                    seen.add(other)
                    out += expand(other, seen)
        else:
            out.append(line)
    return out


# What the user-facing extras declare: the dev extra names some of them again (fastapi, wordllama), and
# there they count as the extra's requirement, tested at its bound, not as a dev tool.
user = {canon(REQ.match(r).group(1)) for e in extras if e != "dev" for r in extras[e]}
dev = expand("dev", {"dev"})
tools = {canon(REQ.match(r).group(1)) for r in extras["dev"]} - user
lows: dict[str, str] = {}


def release(version: str) -> tuple[int, ...]:
    """The numeric release part of a bound (enough to order two bounds of one package)."""
    return tuple(int(p) for p in re.findall(r"\d+", version.partition("post")[0].partition("rc")[0]))


for line in project["dependencies"] + [r for r in dev if canon(REQ.match(r).group(1)) not in tools]:
    name, _, spec = REQ.match(line).groups()
    for low in re.findall(r">=\s*([^,;\s]+)", spec):
        # Two extras may bound one package (numpy): the higher bound is the one both allow.
        if canon(name) not in lows or release(low) > release(lows[canon(name)]):
            lows[canon(name)] = low
# Bounds the dev set cannot hold together: wordllama (0.4.0.post1, its oldest) requires numpy>=2 while the
# postgres, search and synthesis extras admit numpy 1.26. The first pass runs numpy at wordllama's floor; a
# second pass installs every extra but wordllama with numpy at its own bound and runs what does not need it.
CLASHES = {"numpy": ("2.0.0", "wordllama")}
own = dict(lows)
for name, (floor, _) in CLASHES.items():
    lows[name] = floor
pins = [f"{n}=={v}" for n, v in lows.items()]
for line in Path("constraints/dev.txt").read_text().splitlines():
    if canon(line.partition("==")[0]) in tools:
        pins.append(line)
(tmp / "lowest.txt").write_text("\n".join(pins) + "\n")
without = {forcer for _, forcer in CLASHES.values()}
second = [f"{n}=={own[n] if n in CLASHES else v}" for n, v in lows.items() if n not in without]
second += [p for p in pins if canon(p.partition("==")[0]) in tools]
(tmp / "second.txt").write_text("\n".join(second) + "\n")
(tmp / "second-tools").write_text(" ".join(sorted(tools)))
print("second pass, without", ", ".join(sorted(without)) + ":", " ".join(f"{n}=={own[n]}" for n in CLASHES))
print("lower bounds:", " ".join(f"{n}=={v}" for n, v in lows.items()))
print("dev tools at CI's pins:", " ".join(p for p in pins if canon(p.partition("==")[0]) in tools))
PY
run_pass() {  # run_pass VENV CONSTRAINTS INSTALL-ARGS... -- PYTEST-ARGS...
  local venv=$1 cons=$2; shift 2
  local install=(); while [ "$1" != -- ]; do install+=("$1"); shift; done; shift
  python3 -m venv "$venv"
  # pip's own account of a conflict goes to stderr; the index-location warnings are noise.
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$cons" "${install[@]}" 2> >(grep -v '^WARNING: Location' >&2) \
    || return
  echo "installed: $("$venv/bin/pip" freeze --exclude-editable --disable-pip-version-check 2>/dev/null | tr '\n' ' ')"
  "$venv/bin/pytest" -q -p no:cacheprovider --deselect tests/test_quality.py "$@"
}
rc=0
run_pass "$tmp/venv" "$tmp/lowest.txt" -e '.[dev]' -- "$@" || rc=$?
# shellcheck disable=SC2046  # one word per tool
run_pass "$tmp/venv2" "$tmp/second.txt" -e '.[all]' $(cat "$tmp/second-tools") -- \
  -k 'not wordllama and not test_memories_of_a_new_topic_added_after_tuning_are_found' "$@" || rc=$?
exit "$rc"
