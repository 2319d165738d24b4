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
    ConflictError,
    ExecutionError,
    InvalidInputError,
    LeaseLostError,
    MigrationError,
    MissingExtraError,
    NotFoundError,
    PermissionDeniedError,
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    RateLimitError,
    RequestError,
    ServerError,
    SynthesisTimeoutError,
    ToolTimeoutError,
    TransientError,
    UserNotFoundError,
    deprecated_error,
)
from .identity import Identity
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ._async.resources.app_tables import AsyncAppTable
    from ._rows_display import AsyncRows, Rows
    from ._sync.resources.app_tables import AppTable
    from .engine.runs import ToolRun
    from .engine.steps import SkillStep, StepProblem
    from .models.memory import SearchHit, SearchResults
    from .schema.query import Page

#: Public names loaded on first use (PEP 562): they bring the models and the JSONPath engine, which
#: `import phase3_sdk` should not pay for (it stays well under 0.3 s on the base install).
_LAZY = {
    "AppTable": "._sync.resources.app_tables",
    "AsyncAppTable": "._async.resources.app_tables",
    "Rows": "._rows_display",
    "AsyncRows": "._rows_display",
    "ToolRun": ".engine.runs",
    "SkillStep": ".engine.steps",
    "StepProblem": ".engine.steps",
    "Page": ".schema.query",
    "SearchHit": ".models.memory",
    "SearchResults": ".models.memory",
}

__version__ = "0.1.0"

__all__ = [
    "AppTable",
    "AsyncAppTable",
    "AsyncPhase3Client",
    "AsyncRows",
    "AuthError",
    "ConfigurationError",
    "ConflictError",
    "ExecutionError",
    "Identity",
    "InvalidInputError",
    "LeaseLostError",
    "MigrationError",
    "MissingExtraError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Phase3Client",
    "Phase3ConnectionError",
    "Phase3Error",
    "Phase3TimeoutError",
    "RateLimitError",
    "RequestError",
    "RetryPolicy",
    "Rows",
    "SearchHit",
    "SearchResults",
    "ServerError",
    "SkillStep",
    "StepProblem",
    "SynthesisTimeoutError",
    "ToolRun",
    "ToolTimeoutError",
    "TransientError",
    "UserNotFoundError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        # The 0.1 error names (NotFound, InvalidInput, ...) warn and give the renamed class.
        return deprecated_error(name, __name__)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
