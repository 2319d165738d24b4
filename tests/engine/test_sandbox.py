from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from phase3_sdk.engine.sandbox import PROFILES, SandboxLimits
from phase3_sdk.engine.supervisor import check_js_syntax, default_pool, run_js_tool

# Short limits keep the failure-mode tests fast; the behaviour is the same for every profile.
FAST = SandboxLimits(
    time_limit_ms=200, memory_limit_bytes=8 * 1024 * 1024, max_stack_bytes=256 * 1024, max_output_bytes=4096
)

# Everything the ECMAScript spec and quickjs-ng's own intrinsics put on the global object.
STANDARD_GLOBALS = {
    *[
        "Object",
        "Function",
        "Array",
        "Number",
        "parseFloat",
        "parseInt",
        "Infinity",
        "NaN",
        "undefined",
        "Boolean",
        "String",
        "Symbol",
    ],
    *[
        "Date",
        "Promise",
        "RegExp",
        "Error",
        "AggregateError",
        "EvalError",
        "RangeError",
        "ReferenceError",
        "SyntaxError",
    ],
    *[
        "TypeError",
        "URIError",
        "InternalError",
        "globalThis",
        "JSON",
        "Math",
        "Intl",
        "ArrayBuffer",
        "SharedArrayBuffer",
    ],
    *[
        "Atomics",
        "DataView",
        "Uint8Array",
        "Int8Array",
        "Uint16Array",
        "Int16Array",
        "Uint32Array",
        "Int32Array",
    ],
    *[
        "Float16Array",
        "Float32Array",
        "Float64Array",
        "Uint8ClampedArray",
        "BigUint64Array",
        "BigInt64Array",
        "BigInt",
    ],
    *[
        "Map",
        "Set",
        "WeakMap",
        "WeakSet",
        "WeakRef",
        "FinalizationRegistry",
        "Proxy",
        "Reflect",
        "decodeURI",
        "decodeURIComponent",
    ],
    *[
        "encodeURI",
        "encodeURIComponent",
        "escape",
        "unescape",
        "eval",
        "isFinite",
        "isNaN",
        "Iterator",
        "queueMicrotask",
    ],
    *[
        "DisposableStack",
        "AsyncDisposableStack",
        "SuppressedError",
        "DOMException",
        "btoa",
        "atob",
        "performance",
    ],
}


def test_trivial_tool_returns_parsed_json() -> None:
    outcome = run_js_tool("return { result: params.x * 2 };", {"x": 21})
    assert outcome.status == "success"
    assert outcome.output == {"result": 42}
    assert outcome.error is None
    assert outcome.memory_used_mb is not None
    assert outcome.memory_used_mb > 0


def test_async_body_with_logs() -> None:
    code = """
        const wait = (v) => new Promise((resolve) => queueMicrotask(() => resolve(v)));
        log('start', { x: params.x });
        const doubled = await wait(params.x * 2);
        log('doubled', doubled);
        return { result: doubled, items: await Promise.all([wait(1), wait(2)]) };
    """
    outcome = run_js_tool(code, {"x": 5})
    assert outcome.status == "success", outcome.error
    assert outcome.output == {"result": 10, "items": [1, 2]}
    assert outcome.logs == ('start {"x":5}', "doubled 10")


def test_logs_are_bounded() -> None:
    outcome = run_js_tool("for (let i = 0; i < 1000; i++) log('x'.repeat(5000)); return 1;", {})
    assert outcome.status == "success"
    assert len(outcome.logs) == 201
    assert all(len(line) <= 2000 for line in outcome.logs[:200])
    assert outcome.logs[-1] == "[800 more log lines dropped]"


def test_thrown_error_is_failure_with_name_and_message() -> None:
    outcome = run_js_tool("log('before'); throw new TypeError('params.x must be a number');", {})
    assert outcome.status == "failure"
    assert outcome.error == "TypeError: params.x must be a number"
    assert outcome.logs == ("before",)
    rejected = run_js_tool("await null; throw new RangeError('late');", {})
    assert (rejected.status, rejected.error) == ("failure", "RangeError: late")
    thrown_string = run_js_tool("throw 'boom';", {})
    assert (thrown_string.status, thrown_string.error) == ("failure", "Uncaught boom")


def test_syntax_error_is_failure_and_check_js_syntax_reports_it() -> None:
    outcome = run_js_tool("return (;", {})
    assert outcome.status == "failure"
    assert outcome.error is not None
    assert outcome.error.startswith("SyntaxError")
    assert check_js_syntax("return (;") == f"{outcome.error} (line 1, column 9)"
    assert (
        check_js_syntax("const a = 1;\nlet b = {;\nreturn a;")
        == "SyntaxError: invalid property name (line 2, column 10)"
    )
    assert check_js_syntax("const y = await Promise.resolve(params.x); return { y };") is None
    # Compile-only: the body must not run.
    assert check_js_syntax("while (true) {}") is None


@pytest.mark.parametrize(
    "code", ["return 1; }); (function () {", "}, globalThis.x = 1, async function (params, log) {"]
)
def test_body_cannot_close_its_own_function(code: str) -> None:
    expected = "SyntaxError: unbalanced braces: the body closes its own function"
    outcome = run_js_tool(code, {})
    assert (outcome.status, outcome.error) == ("failure", expected)
    assert check_js_syntax(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return undefined;", None),
        ("return () => 1;", None),
        ("return null;", None),
        ("return [1, 'two', { three: 3.5 }, true];", [1, "two", {"three": 3.5}, True]),
        ("return 'héllo ✓';", "héllo ✓"),
        ("return { toJSON() { return 'custom'; } };", "custom"),
    ],
)
def test_return_values(code: str, expected: object) -> None:
    outcome = run_js_tool(code, {})
    assert outcome.status == "success"
    assert outcome.output == expected


@pytest.mark.parametrize("code", ["return 10n;", "const a = {}; a.self = a; return a;"])
def test_unserializable_output_is_failure(code: str) -> None:
    outcome = run_js_tool(code, {})
    assert outcome.status == "failure"
    assert outcome.error is not None
    assert outcome.error.startswith("output is not JSON-serializable")


def test_output_over_the_limit_is_failure() -> None:
    assert run_js_tool("return 'x'.repeat(4000);", {}, limits=FAST).status == "success"
    too_big = run_js_tool("return 'x'.repeat(5000);", {}, limits=FAST)
    assert too_big.status == "failure"
    assert too_big.error is not None
    assert "over the limit of 4096 bytes" in too_big.error
    # Multi-byte characters count as their UTF-8 size, not their JS length.
    multibyte = run_js_tool("return '✓'.repeat(2000);", {}, limits=FAST)
    assert multibyte.status == "failure"


def _assert_timeout(code: str, limits: SandboxLimits = FAST) -> None:
    started = time.perf_counter()
    cpu_started = time.process_time()
    outcome = run_js_tool(code, {}, limits=limits)
    elapsed_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu_started) * 1000
    assert outcome.status == "timeout", outcome
    assert outcome.error == f"time limit of {limits.time_limit_ms:g} ms exceeded"
    # QuickJS counts process CPU time, so on a busy machine the wall clock may run further ahead;
    # the wall-clock bound only guards against a hang.
    assert cpu_ms < limits.time_limit_ms * 1.5
    assert elapsed_ms < limits.time_limit_ms * 3


def test_infinite_loop_times_out_and_host_is_fine_afterwards() -> None:
    _assert_timeout("while (true) {}")
    _assert_timeout("await null; for (;;) {}")
    assert run_js_tool("return { ok: true };", {}).output == {"ok": True}


def test_endless_promise_chain_times_out() -> None:
    _assert_timeout("for (;;) { await null; }")


def test_catastrophic_regex_times_out() -> None:
    _assert_timeout("return /^(a+)+$/.test('a'.repeat(40) + 'b');")


def test_strict_profile_time_limit() -> None:
    _assert_timeout("while (true) {}", PROFILES["strict"])


def test_to_json_cannot_escape_the_time_limit() -> None:
    _assert_timeout("return { toJSON() { for (;;) {} } };")


@pytest.mark.parametrize(
    "code",
    [
        "const a = []; for (;;) a.push({ n: a.length });",
        "const parts = []; const chunk = 'y'.repeat(1000); for (;;) parts.push(chunk + parts.length);",
        "await null; const a = []; for (;;) a.push('x' + a.length);",
        "return new Array(1e9).fill(0);",
    ],
)
def test_memory_bomb_is_failure_mentioning_memory(code: str) -> None:
    outcome = run_js_tool(code, {}, limits=FAST)
    assert outcome.status == "failure", outcome
    assert outcome.error == "memory limit of 8 MiB exceeded"
    assert run_js_tool("return params;", {"after": 1}, limits=FAST).output == {"after": 1}


def test_runaway_recursion_is_failure() -> None:
    outcome = run_js_tool("function f(n) { return f(n + 1) + 1; } return f(0);", {}, limits=FAST)
    assert outcome.status == "failure"
    assert outcome.error is not None
    assert "stack" in outcome.error.lower()


def test_never_settling_promise_is_failure_not_hang() -> None:
    started = time.perf_counter()
    outcome = run_js_tool("await new Promise(() => {});", {})
    assert outcome.status == "failure"
    assert outcome.error is not None
    assert "never settled" in outcome.error
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    "code",
    [
        "return typeof require;",
        "return typeof process;",
        "return typeof std + typeof os + typeof console + typeof print + typeof scriptArgs;",
        "return typeof globalThis.constructor.constructor('return this')().process;",
    ],
)
def test_host_objects_are_absent(code: str) -> None:
    outcome = run_js_tool(code, {})
    assert outcome.status == "success"
    assert set(str(outcome.output).split("undefined")) == {""}


def test_function_constructor_yields_only_the_js_global() -> None:
    code = """
        const g = globalThis.constructor.constructor('return this')();
        return { same: g === globalThis, names: Object.getOwnPropertyNames(g) };
    """
    outcome = run_js_tool(code, {})
    assert outcome.status == "success"
    assert outcome.output["same"] is True
    assert set(outcome.output["names"]) <= STANDARD_GLOBALS


def test_require_and_dynamic_import_fail() -> None:
    required = run_js_tool("return require('fs').readFileSync('/etc/passwd', 'utf8');", {})
    assert required.status == "failure"
    assert required.error == "ReferenceError: require is not defined"
    imported = run_js_tool("const fs = await import('fs'); return typeof fs;", {})
    assert imported.status == "failure"
    assert imported.error is not None
    assert "could not load module 'fs'" in imported.error
    std = run_js_tool("const m = await import('std'); return m.loadFile('/etc/passwd');", {})
    assert std.status == "failure"


def test_tool_cannot_read_python_objects_or_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    code = f"""
        const found = [];
        for (const name of Object.getOwnPropertyNames(globalThis)) {{
            const v = globalThis[name];
            if (typeof v === 'function' && /python|file|open|read/i.test(name)) found.push(name);
        }}
        let fetched = 'none';
        try {{ fetched = await import({str(secret)!r}); }} catch (e) {{ fetched = String(e); }}
        const paramsProto = Object.getPrototypeOf(params) === Object.prototype;
        return {{ found, fetched: String(fetched), log: typeof log, paramsProto }};
    """
    outcome = run_js_tool(code, {"a": 1})
    assert outcome.status == "success", outcome.error
    assert outcome.output["found"] == []
    assert "top secret" not in outcome.output["fetched"]
    assert outcome.output["paramsProto"] is True


def test_no_state_leaks_between_calls() -> None:
    first = run_js_tool(
        "globalThis.leak = 42; Object.prototype.polluted = 'yes'; Array.prototype.push = null; return 1;", {}
    )
    assert first.status == "success"
    second = run_js_tool(
        "return { leak: typeof leak, polluted: ({}).polluted ?? null, push: typeof [].push };", {}
    )
    assert second.output == {"leak": "undefined", "polluted": None, "push": "function"}


def test_params_go_in_as_json() -> None:
    params = {"s": 'quote " backslash \\ newline \n \u2028', "n": [1, 2.5, None, True], "nested": {"k": {}}}
    outcome = run_js_tool("return params;", params)
    assert outcome.output == params


def test_parallel_calls_from_worker_threads() -> None:
    def call(i: int) -> object:
        return run_js_tool("await null; return { result: params.x * 2, thread: params.x };", {"x": i}).output

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(200)))
    assert results == [{"result": i * 2, "thread": i} for i in range(200)]
    assert threading.active_count() >= 1


def test_timeouts_in_parallel_threads_do_not_hang() -> None:
    default_pool().warm(4)  # four workers already started: the bound below is about the calls, not boot
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: run_js_tool("for (;;) {}", {}, limits=FAST), range(4)))
    assert {o.status for o in outcomes} == {"timeout"}
    # "Do not hang": the 2x bound plus the same scheduling slack as tests/engine/test_supervisor.py
    # allows, since four killed workers share two cores with whatever else the machine runs.
    assert time.perf_counter() - started < 2 * FAST.time_limit_ms / 1000 + 0.5


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="memory_limit_bytes"):
        SandboxLimits(100, 1000, 256 * 1024, 10)
    with pytest.raises(ValueError, match="time_limit_ms"):
        SandboxLimits(0, 16 * 1024 * 1024, 256 * 1024, 10)
