"""The sandbox worker process: runs QuickJS requests from its parent until the parent goes away.

Started by :class:`phase3_sdk.engine.supervisor.SandboxPool` as
``python -I _sandbox_worker.py <request fd> <reply fd>``, never imported by the SDK. It loads
``sandbox.py`` by path rather than importing ``phase3_sdk`` (whose ``__init__`` pulls in the whole
client), so a worker starts in tens of milliseconds and holds nothing but QuickJS: no keys, no
connections, no environment (the parent starts it with an empty one).

The parent may SIGKILL this process at any moment (a tool that overran its time limit); nothing here
holds state worth saving. Requests come one at a time; each gets a fresh QuickJS runtime.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from types import ModuleType

#: Backstop for memory QuickJS's own allocator limit does not see (the largest profile is 256 MiB).
_ADDRESS_SPACE_LIMIT = 2 * 1024 * 1024 * 1024


def _load_sandbox() -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
    spec = importlib.util.spec_from_file_location("phase3_sandbox_core", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while building the classes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _limit_resources() -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    for which, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, _ADDRESS_SPACE_LIMIT)):
        soft, hard = resource.getrlimit(which)
        lower_than_soft = soft == resource.RLIM_INFINITY or value < soft
        if lower_than_soft and (hard == resource.RLIM_INFINITY or value <= hard):
            resource.setrlimit(which, (value, hard))


def _watch_parent(parent: int) -> None:
    # If the parent dies while this process is inside a long native call, nobody would read the pipe or
    # kill us: leave on our own. (QuickJS releases the GIL, so this thread runs meanwhile.)
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main() -> None:
    """Serve requests until the request pipe closes."""
    request_fd, reply_fd = int(sys.argv[1]), int(sys.argv[2])
    parent = os.getppid()
    _limit_resources()
    core = _load_sandbox()
    import json

    threading.Thread(target=_watch_parent, args=(parent,), name="phase3-parent-watch", daemon=True).start()
    header = core.FRAME_HEADER
    _write_all(reply_fd, core.encode_frame({"ready": True, "pid": os.getpid()}))
    while True:
        head = _read_exactly(request_fd, header.size)
        if head is None:
            return
        meta_len, blob_len = header.unpack(head)
        body = _read_exactly(request_fd, meta_len + blob_len)
        if body is None:
            return
        meta = json.loads(body[:meta_len])
        reply, blob = core.serve(meta, body[meta_len:])
        _write_all(reply_fd, core.encode_frame(reply, blob))


if __name__ == "__main__":
    main()
