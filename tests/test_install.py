"""The install holds: the declared ranges resolve against today's index, and CI tests what they allow.

A new upstream release can make ``pip install`` fail for every new user without a line of ours changing
(httpx 0.29 did: pip 23.2, the pip a fresh Python 3.11 venv carries, backtracked through every postgrest
release and gave up). These tests resolve the package's declared dependencies the way such a user would,
with the newest releases and with the oldest versions the ranges admit, and fail naming the conflict.
They ask the package index, so they need the network that CI has; nothing is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONSTRAINTS = ROOT / "constraints" / "dev.txt"
#: Extras a user installs with the package. ``sentence-transformers`` is left out: resolving it brings
#: torch, whose builds this check has no reason to weigh.
USER_EXTRAS = (
    "postgres",
    "local",
    "skills",
    "search",
    "synthesis",
    "cli",
    "notebook",
    "fastapi",
    "wordllama",
    "all",
    "bench",
)
NAME = canonicalize_name(PYPROJECT["project"]["name"])
#: A resolution asks the index for hundreds of files: 100 s on a busy machine. pip's own timeout (300 s,
#: below) must fire before pytest's default (120 s) does, so that a slow index fails with pip's account.
RESOLVE_TIMEOUT = pytest.mark.timeout(360)


def _extra(extra: str) -> list[Requirement]:
    """An extra's requirements, with ``phase3-sdk[other]`` (an extra naming others) expanded in place:
    the index does not hold this package, so it cannot resolve a reference to itself."""
    out: list[Requirement] = []
    for line in PYPROJECT["project"]["optional-dependencies"][extra]:
        req = Requirement(line)
        if canonicalize_name(req.name) == NAME:
            for other in sorted(req.extras):
                out += _extra(other)
        else:
            out.append(req)
    return out


def _requirements(*extras: str) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        reqs += _extra(extra)
    return reqs


def _lower_bound(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(lows) if lows else None


def _resolve(requirements: list[str], constraints: list[str], tmp_path: Path) -> None:
    """``pip install --dry-run`` into nothing; fail with pip's own account of the conflict."""
    cfile = tmp_path / "constraints.txt"
    cfile.write_text("\n".join(constraints) + "\n")
    # --ignore-installed: resolve from the index alone, as in a fresh venv, whatever this venv holds.
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--disable-pip-version-check", "-c", str(cfile), *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("WARNING: Location")]
        at = next((i for i, ln in enumerate(lines) if "conflict is caused" in ln), max(len(lines) - 12, 0))
        pytest.fail("the declared dependencies do not resolve:\n" + "\n".join(lines[at : at + 12]))


@RESOLVE_TIMEOUT
def test_declared_ranges_resolve_with_the_newest_releases(tmp_path: Path) -> None:
    reqs = [str(r) for r in _requirements(*USER_EXTRAS)]
    _resolve(reqs, [], tmp_path)


@RESOLVE_TIMEOUT
def test_declared_lower_bounds_are_released_and_resolve_together(tmp_path: Path) -> None:
    """The oldest versions the base ranges admit install together (each bound names a real release)."""
    reqs = _requirements()
    pins = [f"{r.name}=={low}" for r in reqs if (low := _lower_bound(r)) is not None]
    _resolve([str(r) for r in reqs], pins, tmp_path)


def test_every_dependency_has_a_lower_bound() -> None:
    base = {canonicalize_name(r.name) for r in _requirements()}
    for req in _requirements("dev", *USER_EXTRAS):
        # An extra may only cap a base dependency further (bench caps httpx for postgrest-py).
        capped_base = canonicalize_name(req.name) in base
        assert _lower_bound(req) is not None or capped_base, f"{req} has no lower bound"


def test_ci_pins_a_version_inside_every_declared_range() -> None:
    """constraints/dev.txt (what CI installs) holds every dev requirement, each within its range."""
    pins: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    for req in _requirements("dev"):
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints/dev.txt does not pin {req.name}: run scripts/update_constraints.sh"
        assert pins[name] in req.specifier, f"constraints/dev.txt pins {req.name} {pins[name]}, outside {req}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(python3 -m venv .*pytest.*)\n```", readme)
    assert len(commands) == 1, "the README should hold one test command"
    assert commands[0] in (ROOT / ".ci" / "run").read_text()
    assert "-c constraints/dev.txt" in commands[0], "the test command should install the versions CI pins"
