"""Run a custom tool's JavaScript in a fresh QuickJS sandbox.

Every call gets a brand-new QuickJS runtime and context (``quickjs-ng``'s ``Context`` owns its own
``JSRuntime``); creating one costs about 0.15 ms, so no runtime is ever reused and nothing can leak
from one call to the next (the worker *processes* are pooled, the runtimes inside them are not).
The sandbox has only the ECMAScript built-ins: no module loader (so ``import()`` rejects), no
``std``/``os``, no ``require``/``process``/``console``, and no Python callable at all -- ``log`` is
plain JavaScript that appends to a bounded array which is read back after the tool finishes. Inputs
go in, and the output comes out, as JSON text.

Resource profiles (one row per :data:`PROFILES` entry):

=============  ==========  ========  ==========  ===========
profile        time limit  memory    JS stack    output JSON
=============  ==========  ========  ==========  ===========
``strict``     250 ms      16 MiB    256 KiB     256 KiB
``standard``   1000 ms     64 MiB    512 KiB     1 MiB
``permissive`` 5000 ms     256 MiB   1 MiB       8 MiB
=============  ==========  ========  ==========  ===========

The time limit is enforced twice. Inside QuickJS, by its interrupt handler (which also fires inside
the regex engine, so catastrophic backtracking is stopped) and, between promise jobs, by a wall-clock
deadline checked here; the handler of ``quickjs-ng`` measures *process* CPU time (C ``clock()``). But
the handler is never consulted inside one native call (``indexOf`` over megabytes, ``JSON.stringify``
of millions of values), so ``supervisor.run_js_tool`` runs the code in a worker process of
:mod:`phase3_sdk.engine.supervisor`, which kills the worker at 1.5x the limit (plus at most 10 ms)
and replaces it: whatever the code does, the call returns within 2x its limit, as a ``timeout``
(``killed=True`` when the worker had to be killed).

Outcomes (``run_js_tool`` never raises for a fault of the tool itself):

* the promise resolves to a JSON value -> ``success`` with the parsed value;
* it resolves to ``undefined``, a function or a symbol (``JSON.stringify`` gives nothing) ->
  ``success`` with ``output=None``, matching what JSON-based callers see;
* it resolves to something ``JSON.stringify`` throws on (a ``BigInt``, a cycle) -> ``failure``;
* JSON output longer than ``max_output_bytes`` (UTF-8) -> ``failure``;
* a thrown error or rejected promise -> ``failure`` with ``"Name: message"``;
* the time limit -> ``timeout``; the memory limit -> ``failure`` saying
  ``"memory limit of N MiB exceeded"``. QuickJS sometimes reports a failed allocation by
  throwing ``null``, so a tool that itself throws ``null`` is reported the same way;
* a promise that never settles (nothing left to run) -> ``failure``;
* a syntax error in the body -> ``failure`` with the ``SyntaxError`` message.

Thread safety: :func:`run_js_tool` may be called from any number of threads (for example via
``asyncio.to_thread``); each call takes a worker process of its own. Inside the worker, as in the
``*_in_process`` functions, a QuickJS runtime is created, used and freed on one thread and no
reference is kept afterwards (QuickJS runtimes must stay on one thread). The thread needs a C stack
comfortably larger than ``max_stack_bytes``; CPython's default (8 MiB on glibc) is.

This module imports nothing from ``phase3_sdk``: the worker process loads it on its own.
"""

from __future__ import annotations

import importlib
import json
import math
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

# The C extension directly: the `quickjs` wrapper package starts a worker thread at import time for
# its `Function` helper, which this module does not use. It ships no type information.
try:
    _quickjs: Any = importlib.import_module("_quickjs")
except ModuleNotFoundError as exc:
    if exc.name != "_quickjs":
        raise
    # Imported here, on failure only: the sandbox worker loads this file by path and never needs it.
    from phase3_sdk.errors import MissingExtraError

    raise MissingExtraError("the JavaScript sandbox (JS tools, skill conditions)", "skills") from None

__all__ = [
    "PROFILES",
    "SandboxLimits",
    "SandboxProfile",
    "ToolOutcome",
]

SandboxProfile = Literal["strict", "standard", "permissive"]

_KIB: Final = 1024
_MIB: Final = 1024 * 1024

#: At most this many ``log`` lines are kept; later ones are counted and reported in one line.
MAX_LOG_LINES: Final = 200
#: Each ``log`` line is cut to this many characters.
MAX_LOG_LINE_CHARS: Final = 2000


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed evaluation.

    ``time_limit_ms`` bounds the whole call (all promise jobs together); ``memory_limit_bytes`` is
    QuickJS's allocator limit for the runtime; ``max_stack_bytes`` bounds JavaScript recursion;
    ``max_output_bytes`` bounds the UTF-8 size of the returned JSON text.
    """

    time_limit_ms: float
    memory_limit_bytes: int
    max_stack_bytes: int
    max_output_bytes: int

    def __post_init__(self) -> None:
        if not (self.time_limit_ms > 0 and math.isfinite(self.time_limit_ms)):
            raise ValueError("time_limit_ms must be a positive finite number")
        # Below ~1 MiB QuickJS cannot even set up its intrinsics, which would turn every call into
        # a confusing "memory limit exceeded".
        if self.memory_limit_bytes < _MIB:
            raise ValueError("memory_limit_bytes must be at least 1 MiB")
        if self.max_stack_bytes < 64 * _KIB:
            raise ValueError("max_stack_bytes must be at least 64 KiB")
        if self.max_output_bytes < 1:
            raise ValueError("max_output_bytes must be positive")


# Why these numbers: strict is for conditions and untrusted one-liners -- 250 ms is still ~10^7
# simple JS operations, and 16 MiB holds a few hundred thousand small objects. standard covers
# typical data-shaping tools with headroom (a step's payload is JSON that the database stores, so
# more than 1 MiB of output per step is almost certainly a bug). permissive is the opt-in ceiling:
# 5 s keeps a composite skill responsive and 256 MiB bounds the worst case when several tools run in
# parallel worker threads. Stack sizes stay far below the 8 MiB C stack of a CPython thread, so
# QuickJS's own guard always fires before the real stack overflows.
PROFILES: Final[Mapping[SandboxProfile, SandboxLimits]] = {
    "strict": SandboxLimits(250, 16 * _MIB, 256 * _KIB, 256 * _KIB),
    "standard": SandboxLimits(1000, 64 * _MIB, 512 * _KIB, 1 * _MIB),
    "permissive": SandboxLimits(5000, 256 * _MIB, 1 * _MIB, 8 * _MIB),
}


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one tool run.

    ``output`` is the parsed JSON value (``None`` unless ``status == "success"``, and also ``None``
    when the tool returned ``undefined``). ``memory_used_mb`` is the JavaScript heap in use when the
    tool finished (QuickJS exposes no peak), ``None`` if it could not be read (or the worker was
    killed). ``killed`` says the code overran even QuickJS's own limit (a long native call) and its
    worker process was killed at the hard deadline; the status is then ``timeout``.
    """

    status: Literal["success", "failure", "timeout"]
    output: Any
    error: str | None
    logs: tuple[str, ...]
    execution_time_ms: float
    memory_used_mb: float | None
    #: True when the worker process had to be killed at the hard deadline (see ``supervisor``).
    killed: bool = False


class SandboxFault(Exception):
    """Internal: the sandbox stopped the code (``kind`` is ``timeout``, ``memory`` or ``error``)."""

    def __init__(self, kind: Literal["timeout", "memory", "error"], message: str) -> None:
        self.kind = kind
        super().__init__(message)


class SandboxSession:
    """Internal: one fresh QuickJS runtime with a single time budget across all entries into it.

    Not part of the public API; ``conditions`` shares it so both run under the same rules.
    """

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self._deadline = time.perf_counter() + limits.time_limit_ms / 1000
        self.context = _quickjs.Context()
        self.context.set_memory_limit(limits.memory_limit_bytes)
        self.context.set_max_stack_size(limits.max_stack_bytes)

    def _arm(self) -> None:
        remaining = self._deadline - time.perf_counter()
        if remaining <= 0:
            raise SandboxFault("timeout", self._timeout_message())
        # The binding restarts its CPU clock on every entry, so each entry only gets what is left of
        # the call's budget; otherwise a chain of promise jobs could run for ever.
        self.context.set_time_limit(remaining)

    def _timeout_message(self) -> str:
        return f"time limit of {self.limits.time_limit_ms:g} ms exceeded"

    def _memory_message(self) -> str:
        return f"memory limit of {self.limits.memory_limit_bytes / _MIB:g} MiB exceeded"

    def translate(self, exc: BaseException) -> SandboxFault:
        """Map an exception raised by the binding to a fault with a one-line message."""
        text = str(exc)
        first = text.split("\n", 1)[0].strip()
        if first == "InternalError: interrupted":
            return SandboxFault("timeout", self._timeout_message())
        if first in ("null", "InternalError: out of memory") or "out of memory" in first:
            return SandboxFault("memory", self._memory_message())
        return SandboxFault("error", first or "unknown JavaScript error")

    def eval(self, source: str) -> Any:
        """Evaluate trusted wrapper source under the call's budget."""
        self._arm()
        try:
            return self.context.eval(source)
        except _quickjs.JSException as exc:
            raise self.translate(exc) from None

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call a JS function object (from :meth:`eval`) with string/number arguments."""
        self._arm()
        try:
            return function(*args)
        except _quickjs.JSException as exc:
            raise self.translate(exc) from None

    def drain_jobs(self) -> None:
        """Run queued promise jobs until none is left or the budget is spent."""
        while True:
            self._arm()
            try:
                if not self.context.execute_pending_job():
                    return
            except _quickjs.JSException as exc:
                raise self.translate(exc) from None

    def memory_used_mb(self) -> float | None:
        """The JS heap currently in use, in MiB."""
        try:
            used = self.context.memory()["memory_used_size"]
        except Exception:  # pragma: no cover - the binding only fails here if QuickJS is broken
            return None
        return round(float(used) / _MIB, 3)


# The wrapper is trusted code evaluated before the tool. The tool body is compiled with the
# AsyncFunction constructor, which parses it as exactly one function body (so it cannot close the
# wrapper early) and lets it use `await`. Everything the wrapper keeps is in a closure the tool
# cannot name; `collect` is handed to Python as a function object.
_WRAPPER: Final = r"""
(function (body, paramsJson, maxLogs, maxLogChars) {
  "use strict";
  const AsyncFunction = (async function () {}).constructor;
  const logs = [];
  let dropped = 0;
  const show = (value) => {
    if (typeof value === "string") return value;
    try {
      const text = JSON.stringify(value);
      if (text !== undefined) return text;
    } catch (e) {}
    try { return String(value); } catch (e) { return "[unprintable]"; }
  };
  const log = (...args) => {
    if (logs.length >= maxLogs) { dropped += 1; return; }
    logs.push(args.map(show).join(" ").slice(0, maxLogChars));
  };
  const describe = (e) => {
    // QuickJS throws null when it cannot even allocate the error, else InternalError("out of memory").
    if (e === null) return { oom: true, message: null };
    try {
      if (e instanceof InternalError && e.message === "out of memory") return { oom: true, message: null };
    } catch (inner) {}
    try {
      if (e instanceof Error) return { oom: false, message: String(e.name) + ": " + String(e.message) };
      return { oom: false, message: "Uncaught " + show(e) };
    } catch (inner) {
      return { oom: false, message: "Uncaught [unprintable value]" };
    }
  };
  const state = { settled: false, ok: false, value: undefined, error: null, text: null };
  let fn;
  try {
    fn = new AsyncFunction("params", "log", body);
    // QuickJS builds the function by pasting the body into source text, so a body with unbalanced
    // braces (`}); other(); (function () {`) can close it early. Still sandboxed, but not a tool.
    if (Object.getPrototypeOf(fn) !== AsyncFunction.prototype || fn.name !== "anonymous") {
      throw new SyntaxError("unbalanced braces: the body closes its own function");
    }
  } catch (e) {
    fn = undefined;
    state.settled = true;
    state.error = describe(e);
  }
  const onValue = (value) => { state.settled = true; state.ok = true; state.value = value; };
  const onError = (e) => { state.settled = true; state.error = describe(e); };
  let promise = null;
  if (fn !== undefined) {
    promise = fn(JSON.parse(paramsJson), log);
    promise.then(onValue, onError);
  }
  return (what) => {
    if (what === "output") return state.text;
    if (what === "reattach") {
      if (!state.settled && promise !== null) promise.then(onValue, onError);
      return null;
    }
    const meta = { settled: state.settled, ok: state.ok, error: state.error, length: null };
    if (state.ok) {
      try {
        state.text = JSON.stringify(state.value);
        meta.length = state.text === undefined ? null : state.text.length;
        if (state.text === undefined) state.text = null;
      } catch (e) {
        meta.ok = false;
        const d = describe(e);
        meta.error = d.oom ? d : { oom: false, message: "output is not JSON-serializable: " + d.message };
      }
    }
    meta.logs = dropped > 0 ? logs.concat(["[" + dropped + " more log lines dropped]"]) : logs;
    return JSON.stringify(meta);
  };
})
"""

_SYNTAX_CHECK: Final = r"""
(function (body) {
  "use strict";
  const AsyncFunction = (async function () {}).constructor;
  try {
    const fn = new AsyncFunction("params", "log", body);
    if (Object.getPrototypeOf(fn) !== AsyncFunction.prototype || fn.name !== "anonymous") {
      return "SyntaxError: unbalanced braces: the body closes its own function";
    }
    return null;
  } catch (e) {
    // The stack's first frame is where the compiler stopped, in the source AsyncFunction built:
    // "(async function anonymous(params,log\n) {\n" + body + ..., so the body starts on line 3.
    const at = /<input>:(\d+):(\d+)/.exec(String(e.stack || ""));
    const where = at && Number(at[1]) > 2 ? " (line " + (Number(at[1]) - 2) + ", column " + at[2] + ")" : "";
    return String(e.name) + ": " + String(e.message) + where;
  }
})
"""


def run_js_tool_in_process(
    code: str,
    params: Mapping[str, Any],
    profile: SandboxProfile = "standard",
    *,
    limits: SandboxLimits | None = None,
) -> ToolOutcome:
    """Run a tool body in a fresh QuickJS runtime on the calling thread, with no process around it.

    Internal (the benchmark compares it with :func:`run_js_tool`): the time limit is only QuickJS's
    interrupt handler, which a single long native call (``String.prototype.indexOf`` over megabytes)
    never consults, so a call can run far past its limit. Use :func:`run_js_tool`.
    """
    chosen = limits if limits is not None else PROFILES[profile]
    reply, text = _execute_tool(code, json.dumps(dict(params), allow_nan=False), chosen)
    return outcome_from_reply(reply, text)


def outcome_from_reply(reply: Mapping[str, Any], text: str | None) -> ToolOutcome:
    """Build the :class:`ToolOutcome` from what :func:`_execute_tool` reported (internal)."""
    return ToolOutcome(
        status=reply["status"],
        output=None if text is None else json.loads(text),
        error=reply["error"],
        logs=tuple(reply["logs"]),
        execution_time_ms=reply["execution_time_ms"],
        memory_used_mb=reply["memory_used_mb"],
    )


def _execute_tool(code: str, params_json: str, chosen: SandboxLimits) -> tuple[dict[str, Any], str | None]:
    """Run the tool; return its outcome as JSON-ready fields and the output's JSON text (if any).

    The output stays text so that a worker process can hand it over without decoding and encoding it.
    """
    started = time.perf_counter()
    session: SandboxSession | None = None
    logs: list[str] = []

    def finish(
        status: Literal["success", "failure", "timeout"], text: str | None = None, error: str | None = None
    ) -> tuple[dict[str, Any], str | None]:
        memory = session.memory_used_mb() if session is not None else None
        reply = {
            "status": status,
            "error": error,
            "logs": logs,
            "execution_time_ms": round((time.perf_counter() - started) * 1000, 3),
            "memory_used_mb": memory,
        }
        return reply, text

    try:
        session = SandboxSession(chosen)
        wrapper = session.eval(_WRAPPER)
        collect = session.call(wrapper, code, params_json, MAX_LOG_LINES, MAX_LOG_LINE_CHARS)
        del wrapper
        session.drain_jobs()
        meta = json.loads(session.call(collect, "meta"))
        if not meta["settled"]:
            # When an async continuation runs out of memory, QuickJS marks the promise rejected but
            # cannot allocate the job that would run our handler. Attaching the handlers again, now
            # that the memory is free, delivers the rejection; a truly pending promise stays silent.
            session.call(collect, "reattach")
            session.drain_jobs()
            meta = json.loads(session.call(collect, "meta"))
        logs = [str(line) for line in meta["logs"]]
        if not meta["settled"]:
            return finish(
                "failure",
                error=(
                    "the tool's promise never settled: it awaited a promise that never resolves "
                    f"(or exhausted the {chosen.memory_limit_bytes / _MIB:g} MiB memory limit "
                    "inside a nested async function)"
                ),
            )
        if not meta["ok"]:
            err = meta["error"] or {"oom": False, "message": "unknown error"}
            if err["oom"]:
                return finish("failure", error=session._memory_message())
            return finish("failure", error=str(err["message"]))
        length = meta["length"]
        if length is None:
            return finish("success")
        # A JS string's length never exceeds its UTF-8 size, so this rejects oversized output
        # before copying it out of the sandbox.
        if length > chosen.max_output_bytes:
            return finish("failure", error=_too_large(length, chosen, exact=False))
        text = session.call(collect, "output")
        del collect
        size = len(text.encode("utf-8"))
        if size > chosen.max_output_bytes:
            return finish("failure", error=_too_large(size, chosen, exact=True))
        return finish("success", text=text)
    except SandboxFault as fault:
        if fault.kind == "timeout":
            return finish("timeout", error=str(fault))
        return finish("failure", error=str(fault))
    finally:
        # The JS handles (wrapper, collect) die with this frame; dropping the session too means the
        # runtime is freed here, not by the garbage collector on some other thread (QuickJS
        # runtimes must stay on one thread).
        session = None


def _too_large(size: int, limits: SandboxLimits, *, exact: bool) -> str:
    qualifier = "" if exact else "at least "
    return f"output is {qualifier}{size} bytes of JSON, over the limit of {limits.max_output_bytes} bytes"


def check_js_syntax_in_process(code: str) -> str | None:
    """:func:`check_js_syntax` on the calling thread (internal: the worker process runs this)."""
    session: SandboxSession | None = SandboxSession(PROFILES["strict"])
    assert session is not None
    try:
        checker = session.eval(_SYNTAX_CHECK)
        result = session.call(checker, code)
        del checker
    except SandboxFault as fault:
        return str(fault)
    finally:
        session = None
    return None if result is None else str(result)


# Conditions (``phase3_sdk.engine.conditions``) run here so the worker process needs no other module.
# Compiling the expression inside both `( ... )` and `[ ... ]` rejects anything that is not a single
# expression: text that closes one bracket early (`1); doSomething(); (1`) cannot close the other.
_CONDITION_RUNNER: Final = r"""
(function (expr, body, valuesJson) {
  "use strict";
  const fail = (phase, e) => {
    let message;
    try { message = e instanceof Error ? e.name + ": " + e.message : "Uncaught " + String(e); }
    catch (inner) { message = "Uncaught [unprintable value]"; }
    return JSON.stringify({ ok: false, phase: phase, message: message });
  };
  let fn;
  try {
    fn = new Function(body + "return (\n" + expr + "\n);");
    new Function("return [\n" + expr + "\n];");
  } catch (e) {
    return fail("syntax", e);
  }
  if (valuesJson === null) return JSON.stringify({ ok: true, value: true });
  try {
    return JSON.stringify({ ok: true, value: !!fn(JSON.parse(valuesJson)) });
  } catch (e) {
    return fail("runtime", e);
  }
})
"""


def evaluate_condition_in_process(expression: str, body: str, values_json: str | None) -> dict[str, Any]:
    """Compile (and, given values, evaluate) a condition in a fresh strict runtime (internal).

    Returns ``{"ok": True, "value": bool}`` or ``{"ok": False, "phase": ..., "message": ...}``;
    ``conditions.evaluate_condition`` builds ``body`` and ``values_json`` and reads the answer.
    """
    session: SandboxSession | None = SandboxSession(PROFILES["strict"])
    assert session is not None
    try:
        runner = session.eval(_CONDITION_RUNNER)
        result: dict[str, Any] = json.loads(session.call(runner, expression, body, values_json))
        del runner
        return result
    except SandboxFault as fault:
        return {"ok": False, "phase": fault.kind, "message": str(fault)}
    finally:
        # Free the runtime on this thread (QuickJS runtimes are not thread-safe).
        session = None


# -- the worker process's side of the pool protocol -------------------------------------------------
#
# A frame is a header (two big-endian 32-bit lengths), a JSON object and a blob of raw bytes (a tool's
# parameters or output as JSON text, passed through without decoding). Both sides live here so that the
# worker, which loads this file on its own (see ``_sandbox_worker.py``), and the pool agree on it.

FRAME_HEADER: Final = struct.Struct(">II")


def encode_frame(meta: Mapping[str, Any], blob: bytes = b"") -> bytes:
    """One frame: header, JSON ``meta``, ``blob``."""
    head = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    return FRAME_HEADER.pack(len(head), len(blob)) + head + blob


def limits_to_json(limits: SandboxLimits) -> list[float | int]:
    """The limits as a JSON array (the order of :class:`SandboxLimits`' fields)."""
    return [limits.time_limit_ms, limits.memory_limit_bytes, limits.max_stack_bytes, limits.max_output_bytes]


def serve(meta: Mapping[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
    """Answer one request of the pool (runs in the worker process); never raises.

    ``meta["kind"]`` is ``tool`` (blob: the parameters' JSON), ``syntax`` or ``condition`` (blob: the
    values' JSON, empty for a compile-only check).
    """
    try:
        kind = meta["kind"]
        if kind == "tool":
            limits = SandboxLimits(*meta["limits"])
            reply, text = _execute_tool(meta["code"], blob.decode("utf-8"), limits)
            return reply, b"" if text is None else text.encode("utf-8")
        if kind == "syntax":
            return {"error": check_js_syntax_in_process(meta["code"])}, b""
        if kind == "condition":
            values = blob.decode("utf-8") if meta["has_values"] else None
            return evaluate_condition_in_process(meta["expression"], meta["body"], values), b""
        return {"internal_error": f"unknown request kind {kind!r}"}, b""
    except Exception as exc:  # a bug here must still answer, or the caller would wait for the kill
        return {"internal_error": f"{type(exc).__name__}: {exc}"}, b""
