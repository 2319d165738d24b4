"""A FastAPI app on the SDK: one root client, a user-scoped client per request, SDK errors as HTTP answers.

    pip install 'phase3-sdk[fastapi]' uvicorn
    SUPABASE_URL=... SUPABASE_ANON_KEY=... uvicorn examples.fastapi_app:app

Every endpoint acts as the caller (``Authorization: Bearer <Supabase access token>``), so row-level
security decides what each user sees; the app itself holds no per-user state. A missing, expired or
forged token is a 401, another user's memory a 404, a bad payload a 422.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations, and ``Me`` is
local to ``create_app``.)
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from phase3_sdk import AsyncPhase3Client
from phase3_sdk.integrations.fastapi import CurrentUser, install_error_handlers


class NewMemory(BaseModel):
    """What a client posts: the conversation's messages and, optionally, its emotion."""

    messages: list[dict[str, Any]] = Field(min_length=1)
    primary_emotion: str | None = None
    valence: float | None = None


class MemoryOut(BaseModel):
    """A memory as the API returns it."""

    id: UUID
    text: str
    primary_emotion: str | None
    created_at: str


def create_app(connect: Callable[[], AsyncPhase3Client] = AsyncPhase3Client.from_env) -> FastAPI:
    """The app; ``connect`` makes the root client at start-up (in the app's event loop) and it is closed
    at shutdown."""
    state: dict[str, AsyncPhase3Client] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["root"] = connect()
        try:
            yield
        finally:
            await state.pop("root").aclose()

    app = FastAPI(title="Phase 3 memories", lifespan=lifespan)
    install_error_handlers(app)
    current_user = CurrentUser(lambda: state["root"])
    Me = Annotated[AsyncPhase3Client, Depends(current_user)]

    def out(memory: Any) -> MemoryOut:
        return MemoryOut(
            id=memory.id,
            text=memory.text,
            primary_emotion=memory.primary_emotion,
            created_at=memory.created_at.isoformat(),
        )

    @app.post("/memories", status_code=201)
    async def add_memory(body: NewMemory, me: Me) -> MemoryOut:
        memory = await me.conversations.create(**body.model_dump(exclude_none=True))
        return out(memory)

    @app.get("/memories")
    async def list_memories(me: Me, limit: int = 20) -> list[MemoryOut]:
        return [out(m) async for m in me.conversations.list(order="-created_at", limit=limit)]

    @app.get("/memories/{memory_id}")
    async def get_memory(memory_id: UUID, me: Me) -> MemoryOut:
        return out(await me.conversations.get(memory_id))

    @app.get("/search")
    async def search(q: str, me: Me, limit: int = 5) -> list[dict[str, Any]]:
        hits = await me.search.text(q, match_count=limit)
        return [{"id": str(h.id), "text": h.text, "rank": h.rank} for h in hits]

    return app


app = create_app()
