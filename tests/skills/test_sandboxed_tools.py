"""JavaScript custom tools inside skills: limits are recorded, the host stays out of reach (both backends)."""

from __future__ import annotations

import pytest

from phase3_sdk import Phase3Client

from .conftest import MakeUser


@pytest.fixture
def me(client: Phase3Client, make_user: MakeUser) -> Phase3Client:
    return client.as_user(user_id=make_user())


def run_one(me: Phase3Client, name: str, code: str) -> tuple[str, str | None, object]:
    """Run a one-step skill around a strict-profile tool; return (usage status, error, output)."""
    me.tools.create(name=name, code=code, sandbox_profile="strict")
    skill = me.skills.create(
        name=f"skill-{name}", steps=[{"stepId": "s", "toolName": name, "errorHandling": "continue"}]
    )
    run = me.skills.execute(skill.id)
    assert run.status == "completed"
    (usage,) = me.tool_usage.list(skill_execution_id=run.id)
    record = run.steps_executed[0]
    assert record.error == usage.error_message
    return usage.status, usage.error_message, record.output


def test_infinite_loop_is_recorded_as_timeout(me: Phase3Client) -> None:
    status, error, _ = run_one(me, "spin", "while (true) {}")
    assert (status, error) == ("timeout", "ToolTimeout: time limit of 250 ms exceeded")


def test_catastrophic_regex_is_stopped_at_the_time_limit(me: Phase3Client) -> None:
    status, error, _ = run_one(me, "redos", "return /^(a+)+$/.test('a'.repeat(64) + 'b');")
    assert (status, error) == ("timeout", "ToolTimeout: time limit of 250 ms exceeded")


def test_memory_bomb_is_recorded_as_failure(me: Phase3Client) -> None:
    status, error, _ = run_one(me, "bomb", "const a = []; while (true) a.push(new Array(100000).fill(1));")
    assert (status, error) == ("failure", "memory limit of 16 MiB exceeded")


def test_host_is_out_of_reach(me: Phase3Client) -> None:
    code = """
      const seen = {};
      seen.require = typeof require;
      seen.process = typeof process;
      try { await import('os'); seen.import = 'loaded'; } catch (e) { seen.import = 'rejected'; }
      const g = globalThis.constructor.constructor('return this')();
      seen.escape = [g.process, g.require, g.std, g.os, g.Deno, g.Bun].map((x) => typeof x);
      return seen;
    """
    status, error, output = run_one(me, "escape", code)
    assert (status, error) == ("success", None)
    assert output == {
        "require": "undefined",
        "process": "undefined",
        "import": "rejected",
        "escape": ["undefined"] * 6,
    }
