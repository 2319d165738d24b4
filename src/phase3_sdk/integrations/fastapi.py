"""FastAPI glue: one root client for the app, a user-scoped client per request, SDK errors as HTTP answers.

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from phase3_sdk import AsyncPhase3Client
    from phase3_sdk.integrations.fastapi import CurrentUser, install_error_handlers

    root = AsyncPhase3Client.from_env()
    current_user = CurrentUser(root)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/memories")
    async def memories(me: Annotated[AsyncPhase3Client, Depends(current_user)]) -> int:
        return await me.conversations.count()

:class:`CurrentUser` reads ``Authorization: Bearer <access token>`` and returns ``root.as_user(token)``; a
missing or refused token is a 401 with ``WWW-Authenticate: Bearer``. :func:`install_error_handlers` maps
what an endpoint lets through: :class:`~phase3_sdk.errors.AuthError` (say, a token PostgREST refused as
expired) 401, ``PermissionDeniedError`` 403, ``NotFoundError`` 404, ``InvalidInputError`` 422,
``ConflictError`` 409, ``RateLimitError`` 429 (with ``Retry-After``), ``TransientError`` 503.

Needs ``pip install 'phase3-sdk[fastapi]'``.
"""

# No ``from __future__ import annotations``: FastAPI reads ``__call__``'s annotations at run time and cannot
# resolve strings there (an instance has no ``__globals__``).

from collections.abc import Callable
from typing import Generic, TypeVar

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from starlette.responses import Response
except ImportError:  # pragma: no cover - exercised in a subprocess without FastAPI
    raise ImportError(
        "phase3_sdk.integrations.fastapi needs FastAPI: pip install 'phase3-sdk[fastapi]'"
    ) from None

from .._async.client import AsyncPhase3Client
from .._sync.client import Phase3Client
from ..errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Phase3Error,
    RateLimitError,
    TransientError,
)

__all__ = ["CurrentUser", "install_error_handlers", "status_for"]

C = TypeVar("C", AsyncPhase3Client, Phase3Client)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class CurrentUser(Generic[C]):
    """A FastAPI dependency returning the caller's user-scoped client (``root.as_user(bearer token)``).

    ``root`` is the app's one client (service or anon key, or a database URL with the JWT secret), or a
    zero-argument callable returning it (for a client made in the app's lifespan). Deriving a user's
    client opens no connection: every request shares the root's pool.
    """

    def __init__(self, root: C | Callable[[], C]) -> None:
        self._root: C | Callable[[], C] = root

    def _client(self) -> C:
        root = self._root
        if isinstance(root, AsyncPhase3Client | Phase3Client):
            return root
        return root()

    async def __call__(self, request: Request) -> C:
        """The request's user client; ``HTTPException(401)`` when the bearer token is missing or refused."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401, "missing bearer token (Authorization: Bearer <access token>)", _CHALLENGE
            )
        try:
            return self._client().as_user(token.strip())
        except AuthError as exc:
            # The message says why (expired, bad signature, ...); it never contains the token.
            raise HTTPException(401, exc.message, _CHALLENGE) from None


#: SDK error class -> HTTP status, most specific first.
_STATUSES: tuple[tuple[type[Phase3Error], int], ...] = (
    (AuthError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (RateLimitError, 429),
    (TransientError, 503),
)


def status_for(error: Phase3Error) -> int:
    """The HTTP status an SDK error becomes (500 for anything not listed above)."""
    return next((status for cls, status in _STATUSES if isinstance(error, cls)), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Answer SDK errors an endpoint raises with their HTTP status and ``{"detail", "code"}``.

    A 500 carries no message (it could be a schema detail); the others carry the error's message, which
    the SDK keeps free of keys and tokens.
    """

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Phase3Error)
        status = status_for(exc)
        headers: dict[str, str] = {}
        if status == 401:
            headers.update(_CHALLENGE)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        detail = exc.message if status != 500 else "internal error"
        field = getattr(exc, "field", None)
        body = {"detail": detail, "code": exc.code} | ({"field": field} if field else {})
        return JSONResponse(body, status_code=status, headers=headers)

    app.add_exception_handler(Phase3Error, handle)
