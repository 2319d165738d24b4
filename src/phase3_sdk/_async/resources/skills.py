"""``client.skills`` (definitions) and ``client.skill_executions`` (runs)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload
from uuid import UUID

from typing_extensions import Unpack

from ..._rows_display import AsyncRows
from ...backends.base import Filter, Order, Query
from ...engine.registry import ToolRegistry
from ...errors import ConfigurationError, InvalidInputError, LeaseLostError, NotFoundError
from ...filters import SkillExecutionFilters, SkillFilters
from ...identity import Identity
from ...models import Skill, SkillCreate, SkillExecution, SkillUpdate
from ...models._base import as_uuid, check_storable
from ...schema.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...schema.tables import SKILL_EXECUTIONS, SKILLS
from ..transport import AsyncTransport
from ._base import AsyncTableResource, Impersonate, transport_for

if TYPE_CHECKING:
    from ...engine.steps import SkillStep, StepProblem
    from ..engine.executor import AsyncSkillExecutor


class AsyncSkills(AsyncTableResource[Skill]):
    """Composite skills: stored, validated step lists, and their execution."""

    table = SKILLS
    filter_type = SkillFilters
    filters: ClassVar = {
        "name": FilterSpec("name", "eq"),
        "enabled": FilterSpec("is_enabled", "eq"),
        "visibility": FilterSpec("visibility", "eq"),
        "tag": FilterSpec("tags", "cs"),
        "user_id": FilterSpec("user_id", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
        "created_after": FilterSpec("created_at", "gt"),  # deprecated: since
        "created_before": FilterSpec("created_at", "lt"),  # deprecated: until
    }

    def __init__(
        self,
        transport: AsyncTransport,
        registry: ToolRegistry,
        impersonate: Callable[[UUID], AsyncTransport] | None = None,
    ) -> None:
        super().__init__(transport)
        self._registry = registry
        # How a service-role client acts for a user in resume_expired; the client may pass one that can
        # also mint the token a user identity needs over REST (see resume_expired).
        self._impersonate = impersonate

    def _check_steps(self, fields: dict[str, Any]) -> dict[str, Any]:
        # Imported here: the engine pulls in QuickJS, which plain CRUD users should not pay for at import.
        from ...engine.steps import parse_steps

        if "steps" in fields and fields["steps"] is not None:
            steps = parse_steps(fields["steps"])
            fields = {**fields, "steps": [s.model_dump(by_alias=True, exclude_none=True) for s in steps]}
        return fields

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Skill:
        """Create a skill; every problem in its steps is reported at once, before anything is sent."""
        return await self._create(SkillCreate, self._check_steps(fields), user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Skill:
        """Change the given fields of one of your skills (new steps are validated first)."""
        return await self._update(id, SkillUpdate, self._check_steps(fields))

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[SkillFilters],
    ) -> AsyncRows[Skill]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[SkillFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[SkillFilters],
    ) -> AsyncRows[Skill] | AsyncRows[dict[str, Any]]:
        """Every visible skill matching the filters (yours and public ones).

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        **filters: Unpack[SkillFilters],
    ) -> Page[Skill]:
        """One page of skills."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[SkillFilters]) -> int:
        """How many visible skills match the filters."""
        return await self._count(filters)

    # -- execution ----------------------------------------------------------------------------------

    def _executor(
        self,
        lease_seconds: float | None = None,
        retry_backoff: float | None = None,
        transport: AsyncTransport | None = None,
    ) -> AsyncSkillExecutor:
        # Imported here: the engine pulls in QuickJS, which plain CRUD users should not pay for at import.
        from ..engine.executor import DEFAULT_LEASE_SECONDS, DEFAULT_RETRY_BACKOFF, AsyncSkillExecutor

        return AsyncSkillExecutor(
            transport or self._transport,
            self._registry,
            lease_seconds=DEFAULT_LEASE_SECONDS if lease_seconds is None else lease_seconds,
            retry_backoff=DEFAULT_RETRY_BACKOFF if retry_backoff is None else retry_backoff,
        )

    async def resolve(self, skill: Skill | UUID | str) -> Skill:
        """The skill an id or a name means to this client (:class:`NotFoundError` if none is visible).

        A name means your own skill with that name, else the oldest public skill with that name.
        """
        if isinstance(skill, Skill):
            return skill
        if isinstance(skill, UUID):
            return await self.get(skill)
        if not isinstance(skill, str) or not skill:
            raise InvalidInputError(f"a skill id or name is required, got {skill!r}", field="skill")
        try:
            return await self.get(UUID(skill))
        except ValueError:
            pass
        # Two reads of one row each, not one read of every skill with that name: the public ones may be
        # more than the server's max-rows (PostgREST cuts any read there), which would drop the caller's
        # own skill or the oldest public one from the answer.
        oldest = (Order("created_at"), Order("id"))
        mine = self._transport.identity.user_id
        if mine is not None:
            own = await self._transport.select(
                Query(
                    SKILLS.name,
                    SKILLS.light_columns,
                    (Filter("name", "eq", skill), Filter("user_id", "eq", mine)),
                    oldest,
                    limit=1,
                )
            )
            if own:
                return self._rows(own)[0]
        public = await self._transport.select(
            Query(
                SKILLS.name,
                SKILLS.light_columns,
                (Filter("name", "eq", skill), Filter("visibility", "eq", "public")),
                oldest,
                limit=1,
            )
        )
        if not public:
            raise NotFoundError(f"no skill named {skill!r} is visible to this client", code="PGRST116")
        return self._rows(public)[0]

    async def execute(
        self,
        skill: Skill | UUID | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        user_id: UUID | str | None = None,
        lease_seconds: float | None = None,
        retry_backoff: float | None = None,
    ) -> SkillExecution:
        """Run a skill (by id, name or model) to its end; returns the persisted execution row.

        The run is checkpointed step by step, so it can be resumed after a crash (:meth:`resume`). A
        failing step does not raise: the row's ``status`` is ``failed`` with ``error_message`` (or the run
        goes on, per the step's ``errorHandling``). Raised before anything runs or is written:
        :class:`InvalidInputError` for invalid steps, unknown tools or missing required inputs (a
        ``$.input...`` mapping of an unconditional step that selects nothing); :class:`NotFoundError` for a
        skill this client cannot see; ``ExecutionError`` for a disabled skill.

        ``timeout`` (seconds) bounds the whole run: the step in flight is cut short and the run ends
        ``failed``. ``lease_seconds`` (default 30) is how soon another process may resume it after this
        one dies; ``retry_backoff`` (default 0.2 s) is the first wait of ``retry`` steps. Acting as the
        service role, ``user_id`` says whose run it is (default: the skill's owner).
        """
        # The inputs are stored with the run (input_params jsonb): refused if PostgreSQL cannot store them.
        if isinstance(inputs, Mapping):  # anything else is refused by the executor, naming it
            check_storable(dict(inputs), field="inputs", what="skill inputs")
        chosen = await self.resolve(skill)
        who = None if user_id is None else as_uuid(user_id, "user_id")
        mine = self._transport.identity.user_id
        if mine is not None and who is not None and who != mine:
            raise InvalidInputError(
                "a user-scoped client can only run skills as its own user", field="user_id"
            )
        return await self._executor(lease_seconds, retry_backoff).execute(
            chosen, inputs, timeout=timeout, user_id=who
        )

    async def resume(
        self,
        execution_id: UUID | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        lease_seconds: float | None = None,
        retry_backoff: float | None = None,
    ) -> SkillExecution:
        """Continue an interrupted execution from its last checkpoint; returns the finished row.

        Only steps without a checkpoint run (a finished step never runs twice). The execution must be
        free or its lease expired: while another process holds it, ``LeaseLostError`` is raised, so of two
        resumers exactly one runs it. An execution that has already ended is returned unchanged.
        """
        key = as_uuid(execution_id, "execution_id")
        return await self._executor(lease_seconds, retry_backoff).resume(key, timeout=timeout)

    async def resume_expired(
        self,
        *,
        limit: int = 10,
        lease_seconds: float = 30,
        timeout: float | None = None,  # noqa: ASYNC109 - each run's time budget, recorded in its result
        retry_backoff: float | None = None,
        impersonate: Impersonate | None = None,
    ) -> builtins.list[SkillExecution]:
        """Resume up to ``limit`` interrupted executions whose lease has expired; returns the ones it ran.

        What "interrupted" means: still ``running``, started by this engine, and its lease expired by the
        database clock -- the process driving it died (or stalled past its lease). A user-scoped client
        finds only its own; a service-role client finds everyone's and resumes each *impersonating its
        owner*, so RLS applies to the run as it did when the owner started it (tools resolve as the owner's,
        usage is logged as theirs). Oldest expiry first; one at a time, each to its end, as :meth:`resume`
        does (only steps without a checkpoint run).

        Other resumers may be at work too: an execution another process claims first (or finishes, or
        cancels) between the listing and our claim is skipped, as is one whose lease is lost to another
        process mid-run (``LeaseLostError`` is not an error here). The result holds only what this call ran.

        ``lease_seconds`` is the lease this resumer takes on each run; ``timeout`` bounds each run;
        ``impersonate`` maps an owner's id to a client acting for them, e.g.
        ``lambda uid: client.as_user(user_id=uid)`` (default: the one this resource
        was made with, else the same backend with :meth:`~phase3_sdk.identity.Identity.for_user` -- enough
        on a database connection; over REST a user identity needs a signed token, so without an
        ``impersonate`` that mints one this raises :class:`~phase3_sdk.errors.ConfigurationError` before
        claiming anything). Raises ``InvalidInputError`` for a bad argument before any request, and
        ``PermissionDeniedError`` for an anonymous client.
        """
        from ..engine.store import AsyncExecutionStore

        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"limit must be a positive integer, got {limit!r}", field="limit")
        if timeout is not None and not timeout > 0:
            raise InvalidInputError(
                f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        # Made before any request, so a bad lease_seconds or retry_backoff is refused up front.
        own = self._executor(lease_seconds, retry_backoff)

        expired = await AsyncExecutionStore(self._transport).find_expired(limit)
        acts_for_others = (
            self._transport.identity.user_id is None and self._transport.identity.role == "service_role"
        )
        act_as = (
            (lambda uid: transport_for(impersonate, uid)) if impersonate is not None else self._impersonate
        )
        resumed: builtins.list[SkillExecution] = []
        for execution_id, owner in expired:
            executor = own  # a user's listing holds only their own runs (RLS): resume them as themselves
            if acts_for_others:
                transport = (
                    act_as(owner)
                    if act_as is not None
                    else self._transport.with_identity(Identity.for_user(owner))
                )
                executor = self._executor(lease_seconds, retry_backoff, transport)
            try:
                done = await executor.resume_if_free(execution_id, timeout=timeout)
            except LeaseLostError:
                continue  # another process took it over mid-run: it is that process's run now
            except ConfigurationError as exc:
                if act_as is not None:
                    raise
                # Raised before anything was sent (nothing claimed): say what to do about it.
                raise ConfigurationError(
                    f"resume_expired cannot act for user {owner} on this backend: {exc.message}",
                    hint="over REST a user's requests need a token signed with the JWT secret, which only "
                    "the client holds: pass impersonate=lambda uid: client.as_user(user_id=uid)",
                ) from exc
            if done is not None:
                resumed.append(done)
        return resumed

    async def cancel(self, execution_id: UUID | str) -> SkillExecution:
        """Cancel a running execution; returns its row.

        The process running it sees the request at its next checkpoint (after the step in flight) and
        ends the run as ``cancelled``; if no process holds a live lease on it (it died), it is ended as
        ``cancelled`` at once. Cancelling a cancelled execution is a no-op; cancelling one that
        ``completed`` or ``failed`` raises ``ExecutionError``.
        """
        key = as_uuid(execution_id, "execution_id")
        return await self._executor().cancel(key)

    async def validate(
        self, steps_or_skill: Skill | UUID | str | Sequence[Mapping[str, Any] | SkillStep]
    ) -> builtins.list[StepProblem]:
        """Every problem with a skill's steps at once (empty list: valid), including unknown tools.

        Takes a list of steps, a :class:`Skill`, or a skill id or name. A tool exists if a Python handler
        is registered under its name or an enabled custom tool with that name is visible to this client;
        all names are looked up with one query.
        """
        from ...engine.steps import validate_steps
        from ..engine.tools import AsyncToolRunner

        owner = self._transport.identity.user_id
        if isinstance(steps_or_skill, Skill | UUID | str):
            skill = await self.resolve(steps_or_skill)
            steps: Any = skill.steps
            owner = owner or skill.user_id
        else:
            steps = steps_or_skill
        names: builtins.list[str] = []
        if isinstance(steps, Sequence) and not isinstance(steps, str | bytes):
            for step in steps:
                name = (
                    getattr(step, "tool_name", None)
                    if not isinstance(step, Mapping)
                    else step.get("toolName", step.get("tool_name"))
                )
                if isinstance(name, str) and name:
                    names.append(name)
        known = await AsyncToolRunner(self._transport, self._registry).resolve(names, owner) if names else {}
        return validate_steps(steps, tool_exists=lambda name: name in known)


class AsyncSkillExecutions(AsyncTableResource[SkillExecution]):
    """The history of skill runs, each checkpointed step by step."""

    table = SKILL_EXECUTIONS
    filter_type = SkillExecutionFilters
    filters: ClassVar = {
        "composite_skill_id": FilterSpec("composite_skill_id", "eq"),
        "status": FilterSpec("status", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
    }

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[SkillExecutionFilters],
    ) -> AsyncRows[SkillExecution]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[SkillExecutionFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[SkillExecutionFilters],
    ) -> AsyncRows[SkillExecution] | AsyncRows[dict[str, Any]]:
        """Runs matching the filters, newest first by default.

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        **filters: Unpack[SkillExecutionFilters],
    ) -> Page[SkillExecution]:
        """One page of runs."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[SkillExecutionFilters]) -> int:
        """How many runs match the filters."""
        return await self._count(filters)
