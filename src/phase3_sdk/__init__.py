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
    Conflict,
    ExecutionError,
    InvalidInput,
    LeaseLost,
    MigrationError,
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
from .resources.query import Page
from .retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "AsyncPhase3Client",
    "AuthError",
    "ConfigurationError",
    "Conflict",
    "ExecutionError",
    "Identity",
    "InvalidInput",
    "LeaseLost",
    "MigrationError",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Phase3Client",
    "Phase3Error",
    "RateLimited",
    "RequestFailed",
    "RetryPolicy",
    "ServerError",
    "SkillStep",
    "StepProblem",
    "SynthesisTimeout",
    "ToolRun",
    "TransientError",
    "__version__",
]
