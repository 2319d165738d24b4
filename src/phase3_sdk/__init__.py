"""phase3-sdk: the typed Python SDK for a Supabase app's Phase 3 schema.

Custom tools, composite skills, memory synthesis and semantic search, over Supabase REST or a direct
PostgreSQL connection, sync (:class:`Phase3Client`) and asyncio (:class:`AsyncPhase3Client`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._async.client import AsyncPhase3Client
from ._sync.client import Phase3Client
from .errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    ExecutionError,
    InvalidInput,
    LeaseLost,
    MigrationError,
    MissingExtra,
    NotFound,
    PermissionDenied,
    Phase3Error,
    RateLimited,
    RequestFailed,
    ServerError,
    SynthesisTimeout,
    TransientError,
)
from .identity import Identity
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ._rows_display import AsyncRows, Rows
    from .engine.runs import ToolRun
    from .engine.steps import SkillStep, StepProblem
    from .resources.query import Page

#: Public names loaded on first use (PEP 562): they bring the models and the JSONPath engine, which
#: `import phase3_sdk` should not pay for (it stays well under 0.3 s on the base install).
_LAZY = {
    "Rows": "._rows_display",
    "AsyncRows": "._rows_display",
    "ToolRun": ".engine.runs",
    "SkillStep": ".engine.steps",
    "StepProblem": ".engine.steps",
    "Page": ".resources.query",
}

__version__ = "0.1.0"

__all__ = [
    "AsyncPhase3Client",
    "AsyncRows",
    "AuthError",
    "ConfigurationError",
    "Conflict",
    "ExecutionError",
    "Identity",
    "InvalidInput",
    "LeaseLost",
    "MigrationError",
    "MissingExtra",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Phase3Client",
    "Phase3Error",
    "RateLimited",
    "RequestFailed",
    "RetryPolicy",
    "Rows",
    "ServerError",
    "SkillStep",
    "StepProblem",
    "SynthesisTimeout",
    "ToolRun",
    "TransientError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
