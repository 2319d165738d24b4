"""phase3-sdk: the typed Python SDK for a Supabase app's Phase 3 schema.

Custom tools, composite skills, memory synthesis and semantic search, over Supabase REST or a direct
PostgreSQL connection, sync (:class:`Phase3Client`) and asyncio (:class:`AsyncPhase3Client`).
"""

from ._async.client import AsyncPhase3Client
from ._sync.client import Phase3Client
from .engine.runs import ToolRun
from .engine.steps import SkillStep, StepProblem
from .errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    ExecutionError,
    InvalidInputError,
    LeaseLostError,
    MigrationError,
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
    deprecated_error,
)
from .identity import Identity
from .retry import RetryPolicy
from .schema.query import Page

__version__ = "0.1.0"

__all__ = [
    "AsyncPhase3Client",
    "AuthError",
    "ConfigurationError",
    "ConflictError",
    "ExecutionError",
    "Identity",
    "InvalidInputError",
    "LeaseLostError",
    "MigrationError",
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
    "ServerError",
    "SkillStep",
    "StepProblem",
    "SynthesisTimeoutError",
    "ToolRun",
    "ToolTimeoutError",
    "TransientError",
    "__version__",
]


def __getattr__(name: str) -> type[Phase3Error]:
    # The 0.1 error names (NotFound, InvalidInput, ...) warn and give the renamed class.
    return deprecated_error(name, __name__)
