"""Row models built by :class:`~phase3_sdk.models._rows.RowFactory` are the models validation builds.

For every table the SDK knows, real rows (one with every column filled, one with every nullable column
null) are read from the embedded database as psycopg decodes them and as PostgREST sends them (JSON built
by ``json_agg``), with every column, the light columns, ``select *`` (unknown columns), only the required
columns and the columns in reverse order. Each time the fast build must equal
``rows_adapter.validate_python`` of the same rows: the same values of the same types, ``model_fields_set``,
``repr``, dumps; and where validation fails, the same error.
"""

from __future__ import annotations

import copy
import pickle
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import from_json, to_json

from phase3_sdk.backends import postgrest as pt
from phase3_sdk.db.embedded import create_auth_user
from phase3_sdk.models import RowModel
from phase3_sdk.models._rows import RowFactory, row_factory
from phase3_sdk.schema.tables import ALL_TABLES, TOOLS, Table
from support.backends import Env

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
VECTOR = "[" + ",".join(repr(i / 997 - 0.25) for i in range(768)) + "]"
TABLES = {table.name: table for table in ALL_TABLES}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _insert(conn: psycopg.Connection[dict[str, Any]], table: Table[Any], values: dict[str, Any]) -> None:
    columns = list(values)
    params = [Jsonb(values[c]) if c in table.json_columns else values[c] for c in columns]
    conn.execute(
        sql.SQL("insert into public.{} ({}) values ({})").format(
            sql.Identifier(table.name),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        ),
        params,
    )


def _seed(conn: psycopg.Connection[dict[str, Any]], user: uuid.UUID) -> dict[str, list[uuid.UUID]]:
    """Per table: a row with every column given (non-null) and a row with only what is required."""
    ids = {name: [uuid.uuid4(), uuid.uuid4()] for name in TABLES}
    full = {name: i[0] for name, i in ids.items()}
    sparse = {name: i[1] for name, i in ids.items()}
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            "conversations",
            {
                "id": full["conversations"],
                "user_id": user,
                "instance_key": "inst",
                "messages": [
                    {"role": "user", "content": "hi", "timestamp": "2026-01-02T03:04:05Z"},
                    {"role": "assistant", "content": "hello", "meta": {"n": 1, "f": 0.5}},
                ],
                "primary_emotion": "joy",
                "secondary_emotions": ["calm", "hope"],
                "valence": -0.25,
                "arousal": 0.5,
                "dominance": 0.75,
                "novelty": 0.125,
                "self_relevance": 1.0,
                "emotional_salience": 0.0,
                "salience_tier": "high",
                "extracted_topics": ["a", "b c"],
                "embedding": VECTOR,
                "decay_multiplier": 0.5,
                "user_marked_important": True,
                "is_deleted": True,
                "attachment_context": "attachment",
                "prospective_self_context": "prospective",
                "created_at": at(1),
                "updated_at": at(2),
            },
        ),
        ("conversations", {"id": sparse["conversations"], "user_id": user}),
        (
            "custom_tools",
            {"id": sparse["custom_tools"], "user_id": user, "name": "sparse", "code": "return 0;"},
        ),
        (
            "custom_tools",
            {
                "id": full["custom_tools"],
                "user_id": user,
                "name": "full",
                "description": "every column",
                "parameters": {"type": "object", "properties": {"x": {"type": "number"}}},
                "code": "return params.x * 2;",
                "signature": "(x: number) => number",
                "capabilities": ["net", "log"],
                "sandbox_profile": "strict",
                "version": "2.0.0",
                "tags": ["t1", "t 2", ""],
                "icon": "wrench",
                "usage_count": 2**40,
                "last_used": at(3),
                "is_enabled": False,
                "visibility": "public",
                "clone_source_id": sparse["custom_tools"],
                "created_at": at(4),
                "updated_at": at(5),
            },
        ),
        (
            "composite_skills",
            {
                "id": full["composite_skills"],
                "user_id": user,
                "name": "full",
                "description": "d",
                "steps": [{"stepId": "s1", "toolName": "double", "inputMapping": {"x": "$.input.x"}}],
                "version": "1.2.3",
                "tags": ["a"],
                "icon": "i",
                "execution_count": 3,
                "last_executed": at(6),
                "is_enabled": False,
                "visibility": "public",
                "created_at": at(7),
                "updated_at": at(8),
            },
        ),
        ("composite_skills", {"id": sparse["composite_skills"], "user_id": user, "name": "sparse"}),
        (
            "composite_skill_executions",
            {
                "id": full["composite_skill_executions"],
                "composite_skill_id": full["composite_skills"],
                "user_id": user,
                "input_params": {"x": 1},
                # camelCase ids (aliases), defaults left out in the second step, an int where a float goes.
                "steps_executed": [
                    {
                        "stepId": "s1",
                        "toolName": "double",
                        "success": True,
                        "output": {"y": 2},
                        "attempts": 1,
                        "execution_time_ms": 3,
                    },
                    {"stepId": "s2", "success": False, "skipped": True, "error": "nope", "extra": 1},
                ],
                "final_output": {"y": 2},
                "status": "completed",
                "error_message": "e",
                "execution_time_ms": 9.75,
                "steps_completed": 2,
                "total_steps": 2,
                "created_at": at(9),
                "skill_snapshot": [{"stepId": "s1", "toolName": "double"}],
                "lease_owner": "worker-1",
                "lease_expires_at": at(10),
                "cancel_requested": True,
                "finished_at": at(11),
                "updated_at": at(12),
            },
        ),
        (
            "composite_skill_executions",
            {
                "id": sparse["composite_skill_executions"],
                "composite_skill_id": sparse["composite_skills"],
                "user_id": user,
            },
        ),
        (
            "custom_tool_usage",
            {
                "id": full["custom_tool_usage"],
                "custom_tool_id": full["custom_tools"],
                "tool_name": "full",
                "user_id": user,
                "input_params": "a JSON string",
                "output_result": [1, "two", {"three": 3.5}, None, True],
                "status": "failure",
                "error_message": "boom",
                "execution_time_ms": 12.5,
                "memory_used_mb": 3.25,
                "timestamp": at(13),
                "skill_execution_id": full["composite_skill_executions"],
            },
        ),
        ("custom_tool_usage", {"id": sparse["custom_tool_usage"], "user_id": user, "status": "success"}),
        (
            "memory_synthesis_jobs",
            {
                "id": full["memory_synthesis_jobs"],
                "user_id": user,
                "synthesis_type": "full_synthesis",
                "time_range_start": at(14),
                "time_range_end": at(15),
                "status": "completed",
                "progress": 0.5,
                "error_message": "e",
                "insights": {"k": [1, 2.5, None]},
                "memories_analyzed": 10,
                "patterns_detected": 2,
                "is_recurring": True,
                "cron_schedule": "0 * * * *",
                "last_run": at(16),
                "next_run": at(17),
                "created_at": at(18),
                "updated_at": at(19),
                "lease_owner": "worker-2",
                "lease_expires_at": at(20),
                "attempts": 1,
                "max_attempts": 5,
            },
        ),
        (
            "memory_synthesis_jobs",
            {"id": sparse["memory_synthesis_jobs"], "user_id": user, "synthesis_type": "prospective_self"},
        ),
        (
            "memory_patterns",
            {
                "id": full["memory_patterns"],
                "user_id": user,
                "pattern_type": "p",
                "layer": 7,
                "description": "d",
                "evidence": {"ids": ["a"], "n": 1},
                "confidence": 0.75,
                "first_detected": at(21),
                "last_observed": at(22),
                "observation_count": 4,
                "user_confirmed": True,
                "user_notes": "notes",
                "created_at": at(23),
                "updated_at": at(24),
                "pattern_key": "key",
                "source_job_id": full["memory_synthesis_jobs"],
            },
        ),
        (
            "memory_patterns",
            {
                "id": sparse["memory_patterns"],
                "user_id": user,
                "pattern_type": "p",
                "layer": 1,
                "description": "d",
                "confidence": 0.1,
            },
        ),
        (
            "synthesis_recommendations",
            {
                "id": full["synthesis_recommendations"],
                "user_id": user,
                "pattern_id": full["memory_patterns"],
                "recommendation": "r",
                "category": "c",
                "priority": "high",
                "status": "working_on",
                "created_at": at(25),
                "updated_at": at(26),
            },
        ),
        (
            "synthesis_recommendations",
            {
                "id": sparse["synthesis_recommendations"],
                "user_id": user,
                "recommendation": "r",
                "category": "c",
            },
        ),
    ]
    for name, values in rows:
        _insert(conn, TABLES[name], values)
    return ids


@pytest.fixture(scope="module")
def conn(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@pytest.fixture(scope="module")
def seeded(
    db_url: str, conn: psycopg.Connection[dict[str, Any]]
) -> tuple[uuid.UUID, dict[str, list[uuid.UUID]]]:
    user = create_auth_user(db_url, f"fast-{uuid.uuid4().hex[:8]}@example.test")
    return user, _seed(conn, user)


def _select(table: Table[Any], columns: tuple[str, ...] | None) -> sql.Composable:
    what = sql.SQL("*") if columns is None else sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL("select {} from public.{} where id = any(%s) order by id").format(
        what, sql.Identifier(table.name)
    )


def fetch(
    conn: psycopg.Connection[dict[str, Any]],
    table: Table[Any],
    ids: list[uuid.UUID],
    columns: tuple[str, ...] | None,
    *,
    typed: bool = True,
) -> list[dict[str, Any]]:
    """The rows as psycopg decodes them (what the Postgres backend returns) or, not ``typed``, as PostgREST
    sends them (``json_agg`` over the statement) decoded as the REST backend decodes them."""
    if typed:
        return conn.execute(_select(table, columns), (ids,)).fetchall()
    query = sql.SQL("select coalesce(json_agg(t), '[]')::text as body from ({}) t").format(
        _select(table, columns)
    )
    row = conn.execute(query, (ids,)).fetchone()
    assert row is not None
    rows: list[dict[str, Any]] = from_json(row["body"])
    return rows


def _same_types(a: Any, b: Any, where: str, *, same_tz: bool = True) -> None:
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, BaseModel):
        _same_types(a.__dict__, b.__dict__, where, same_tz=same_tz)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for key in a:
            _same_types(a[key], b[key], f"{where}.{key}", same_tz=same_tz)
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_types(x, y, f"{where}[{i}]", same_tz=same_tz)
    elif isinstance(a, datetime):
        if same_tz:
            assert repr(a) == repr(b), where
        else:  # the same instant and offset, whatever class carries the offset
            assert (a, a.utcoffset()) == (b, b.utcoffset()), where


def assert_same(fast: list[Any], slow: list[Any], *, same_tz: bool = True) -> None:
    """The fast instances are the validated ones in every observable way.

    ``same_tz=False``: timestamps may carry their UTC offset in another class (msgspec decodes to
    ``datetime.timezone.utc`` where pydantic makes its own ``TzInfo(UTC)``); ``repr`` then differs.
    """
    assert fast == slow
    for f, s in zip(fast, slow, strict=True):
        assert type(f) is type(s)
        assert f.model_fields_set == s.model_fields_set
        assert f.__pydantic_extra__ == s.__pydantic_extra__
        assert f.__pydantic_private__ == s.__pydantic_private__
        if same_tz:
            assert repr(f) == repr(s)
        assert f.model_dump() == s.model_dump()
        assert f.model_dump(mode="json") == s.model_dump(mode="json")
        assert f.model_dump_json() == s.model_dump_json()
        assert f.model_dump(exclude_unset=True) == s.model_dump(exclude_unset=True)
        assert list(f) == list(s)
        _same_types(f, s, type(f).__name__, same_tz=same_tz)


def required_columns(table: Table[Any]) -> tuple[str, ...]:
    return tuple(name for name, f in table.row.model_fields.items() if f.is_required())


COLUMN_CHOICES = {
    "all": lambda t: t.columns,
    "light": lambda t: t.light_columns,
    "star": lambda t: None,
    "required": required_columns,
    "reversed": lambda t: tuple(reversed(t.columns)),
}


@pytest.mark.parametrize("typed", [True, False], ids=["psycopg", "json"])
@pytest.mark.parametrize("choice", COLUMN_CHOICES)
@pytest.mark.parametrize("table_name", TABLES)
def test_rows_build_what_validation_builds(conn, seeded, table_name: str, choice: str, typed: bool) -> None:
    table = TABLES[table_name]
    _, ids = seeded
    rows = fetch(conn, table, ids[table_name], COLUMN_CHOICES[choice](table), typed=typed)
    assert len(rows) == 2
    slow = table.rows_adapter.validate_python(rows)
    fast = table.models(copy.deepcopy(rows), typed=typed)
    assert_same(fast, slow)


@pytest.mark.parametrize("choice", COLUMN_CHOICES)
@pytest.mark.parametrize("table_name", TABLES)
def test_rest_bodies_decode_into_typed_rows_that_build_what_validation_builds(
    conn, seeded, table_name: str, choice: str
) -> None:
    """The REST backend's way: PostgREST's JSON decoded by msgspec into typed rows, then the typed build."""
    table = TABLES[table_name]
    _, ids = seeded
    body = to_json(fetch(conn, table, ids[table_name], COLUMN_CHOICES[choice](table), typed=False))
    rows = pt.parse_table_rows(body, table.row_factory)
    assert len(rows) == 2
    assert {type(row["id"]) for row in rows} == {uuid.UUID}  # decoded, not left as JSON strings
    slow = table.rows_adapter.validate_python(from_json(body))
    assert_same(table.models(rows, typed=True), slow, same_tz=False)


def test_a_rest_body_msgspec_refuses_is_typed_by_validation(conn, seeded) -> None:
    """A single object, or a value msgspec will not take as its column's type, is parsed as JSON and typed
    by pydantic: the rows are typed either way, and a bad value raises the model's validation error."""
    _, ids = seeded
    rows = fetch(conn, TOOLS, ids["custom_tools"], TOOLS.light_columns, typed=False)
    one = pt.parse_table_rows(to_json(rows[1]), TOOLS.row_factory)
    assert one == TOOLS.row_factory.typed_dicts([rows[1]])
    assert isinstance(one[0]["id"], uuid.UUID)
    assert pt.parse_table_rows(b"[]", TOOLS.row_factory) == []
    # msgspec wants the exact type; pydantic's lax mode takes a number in a string for an integer column.
    rows[0]["usage_count"] = "7"
    lax = pt.parse_table_rows(to_json(rows), TOOLS.row_factory)
    assert lax[0]["usage_count"] == 7
    assert TOOLS.models(lax, typed=True) == TOOLS.rows_adapter.validate_python(rows)
    rows[0]["id"] = "not-a-uuid"
    with pytest.raises(ValidationError) as caught:
        pt.parse_table_rows(to_json(rows), TOOLS.row_factory)
    assert caught.value.title == "list[Tool]"
    assert caught.value.errors()[0]["loc"] == (0, "id")


@pytest.mark.parametrize("table_name", TABLES)
def test_the_seed_fills_every_column_once_and_leaves_the_nullable_ones_null_once(
    conn, seeded, table_name: str
) -> None:
    # What makes the comparisons above cover every field: each holds a value in one row and, where it may,
    # None in the other (unless its column has a default).
    table = TABLES[table_name]
    _, ids = seeded
    full, sparse = table.models(fetch(conn, table, ids[table_name], table.columns), typed=True)
    if full.id != ids[table_name][0]:
        full, sparse = sparse, full
    assert [n for n in table.row.model_fields if getattr(full, n) is None] == []
    defaults = {
        r["column_name"]: r["column_default"]
        for r in conn.execute(
            "select column_name, column_default from information_schema.columns "
            "where table_schema = 'public' and table_name = %s",
            (table.name,),
        )
    }
    nullable = [
        n for n, f in table.row.model_fields.items() if _accepts_none(f.annotation) and defaults[n] is None
    ]
    assert nullable
    assert [n for n in nullable if getattr(sparse, n) is not None] == []


def _accepts_none(annotation: Any) -> bool:
    try:
        TypeAdapter(annotation).validate_python(None)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("table_name", TABLES)
def test_a_field_that_cannot_be_none_reads_a_not_null_column(conn, table_name: str) -> None:
    # Typed rows take a driver-typed column as it is, None included: that is only right if a field that
    # refuses None reads a column that cannot hold one.
    table = TABLES[table_name]
    rows = conn.execute(
        "select column_name, is_nullable from information_schema.columns "
        "where table_schema = 'public' and table_name = %s",
        (table.name,),
    ).fetchall()
    nullable = {r["column_name"]: r["is_nullable"] == "YES" for r in rows}
    assert set(table.columns) <= set(nullable)
    for name, field in table.row.model_fields.items():
        if nullable[name]:
            assert _accepts_none(field.annotation), f"{table.name}.{name} is nullable but the field is not"


# -- when the rows do not fit: the result, or the error, is validation's ----------------------------------


def _errors(call: Any) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        call()
    # The context holds the exception raised, which compares by identity.
    return caught.value.errors(include_url=False, include_context=False)


def _both_fail_alike(factory: RowFactory[Any], rows: list[dict[str, Any]], *, typed: bool) -> None:
    expected = _errors(lambda: factory.adapter.validate_python(copy.deepcopy(rows)))
    assert _errors(lambda: factory.build(copy.deepcopy(rows), typed=typed)) == expected


@pytest.mark.parametrize("typed", [True, False])
def test_bad_values_fail_as_validation_fails(conn, seeded, typed: bool) -> None:
    _, ids = seeded
    cases: list[tuple[str, str, Any]] = [
        ("custom_tools", "visibility", "secret"),  # a Literal's value the model does not know
        ("custom_tools", "tags", ["a", None]),  # a null in a text[]
        ("custom_tools", "parameters", ["not", "an", "object"]),
        ("composite_skills", "steps", [1]),  # a JSON array of something other than objects
        ("conversations", "embedding", "[1,2,3]"),  # the wrong number of dimensions
        ("composite_skill_executions", "steps_executed", [{"toolName": "no stepId"}]),
        ("memory_patterns", "layer", 9),
        ("custom_tools", "visibility", ["unhashable"]),
    ]
    if not typed:
        # Typed rows take a uuid column's values as psycopg decoded them: no string can be there.
        cases.append(("custom_tools", "id", "not-a-uuid"))
    for table_name, column, value in cases:
        table = TABLES[table_name]
        rows = fetch(conn, table, ids[table_name], table.columns, typed=typed)
        rows[1][column] = value
        _both_fail_alike(table.row_factory, rows, typed=typed)


@pytest.mark.parametrize("typed", [True, False])
def test_a_missing_required_column_fails_as_validation_fails(conn, seeded, typed: bool) -> None:
    _, ids = seeded
    columns = tuple(c for c in TOOLS.columns if c != "name")
    _both_fail_alike(
        TOOLS.row_factory, fetch(conn, TOOLS, ids[TOOLS.name], columns, typed=typed), typed=typed
    )


def test_a_value_a_check_refuses_but_validation_converts_is_converted(conn, seeded) -> None:
    # A tuple where the driver gives lists: not what psycopg sends, so the check refuses it and validation
    # runs, converting it as it always did.
    _, ids = seeded
    rows = fetch(conn, TOOLS, ids[TOOLS.name], TOOLS.columns)
    rows[0]["tags"] = ("x", "y")
    assert_same(TOOLS.models(copy.deepcopy(rows), typed=True), TOOLS.rows_adapter.validate_python(rows))
    assert TOOLS.models(copy.deepcopy(rows), typed=True)[0].tags == ["x", "y"]


def test_a_steps_record_int_is_validated_into_a_float(conn, seeded) -> None:
    table = TABLES["composite_skill_executions"]
    _, ids = seeded
    full = table.models(fetch(conn, table, ids[table.name][:1], table.columns), typed=True)[0]
    step = full.steps_executed[0]
    assert (step.step_id, step.tool_name, step.execution_time_ms) == ("s1", "double", 3.0)
    assert type(step.execution_time_ms) is float
    assert full.steps_executed[1].tool_name is None
    assert full.steps_executed[1].model_fields_set == {"step_id", "success", "skipped", "error"}


# -- instances behave like validated ones ----------------------------------------------------------------


def test_instances_are_independent_and_behave_like_validated_ones(conn, seeded) -> None:
    _, ids = seeded
    rows = fetch(conn, TOOLS, ids[TOOLS.name], required_columns(TOOLS))
    a, b = TOOLS.models(rows, typed=True)
    # Defaults made per instance, and a fields set of its own: changing one instance leaves the other alone.
    assert a.parameters == b.parameters == {}
    assert a.parameters is not b.parameters
    a.tags.append("mine")
    assert b.tags == []
    a.description = "changed"
    assert "description" in a.model_fields_set
    assert "description" not in b.model_fields_set
    # Copies, pickles and re-validation see an ordinary instance.
    assert pickle.loads(pickle.dumps(a)) == a
    assert a.model_copy(update={"name": "copy"}).name == "copy"
    assert type(a).model_validate(a.model_dump()) == a
    assert type(a).model_validate_json(a.model_dump_json()) == a


def test_rows_of_the_model_fields_in_order_become_the_instances_dicts(conn, seeded) -> None:
    # The cheapest construction: no copy of a psycopg row whose columns are the model's fields in order.
    _, ids = seeded
    rows = fetch(conn, TOOLS, ids[TOOLS.name], TOOLS.columns)
    models = TOOLS.models(rows, typed=True)
    assert all(m.__dict__ is row for m, row in zip(models, rows, strict=True))


class _Upper(RowModel):
    id: uuid.UUID
    name: str

    @field_validator("name")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class _Aliased(RowModel):
    id: uuid.UUID
    step: str = Field(alias="stepName")


class _Stripped(RowModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    id: uuid.UUID
    name: str


class _Containers(RowModel):
    id: uuid.UUID
    floats: list[float] = Field(default_factory=list)
    counts: dict[str, int] | None = None
    kinds: list[Literal["a", "b"]] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("values", "valid"),
    [
        ({"floats": [1.5, 2.0], "counts": {"x": 1}, "kinds": ["a"]}, True),  # taken as they are
        ({"floats": [1, 2.5]}, True),  # JSON ints where floats go: validated into floats
        ({"counts": {"x": True}}, True),  # a bool where an int goes: validated into an int
        ({"counts": {"x": "1"}}, True),  # a string where an int goes: validated into an int
        ({"kinds": ["c"]}, False),
        ({"floats": ["x"]}, False),
    ],
)
def test_values_inside_json_documents_are_checked_by_exact_type(values: dict[str, Any], valid: bool) -> None:
    rows = [{"id": uuid.uuid4(), **values}, {"id": uuid.uuid4(), **values}]
    factory = row_factory(_Containers)
    if not valid:
        _both_fail_alike(factory, rows, typed=True)
        return
    fast = factory.build(copy.deepcopy(rows), typed=True)
    assert_same(fast, factory.adapter.validate_python(rows))


def test_typed_rows_that_do_not_share_their_columns_are_validated(conn, seeded) -> None:
    _, ids = seeded
    light = fetch(conn, TOOLS, ids[TOOLS.name][:1], TOOLS.columns)
    bare = fetch(conn, TOOLS, ids[TOOLS.name][1:], required_columns(TOOLS))
    for rows in ([*light, *bare], [*bare, *light]):
        assert_same(TOOLS.models(copy.deepcopy(rows), typed=True), TOOLS.rows_adapter.validate_python(rows))


@pytest.mark.parametrize("typed", [True, False])
def test_a_model_the_factory_cannot_mirror_is_validated(typed: bool) -> None:
    key = uuid.uuid4()
    assert row_factory(_Upper).build([{"id": key, "name": "x"}], typed=typed)[0].name == "X"
    aliased = row_factory(_Aliased).build([{"id": key, "stepName": "s"}], typed=typed)[0]
    assert aliased.step == "s"
    assert row_factory(_Stripped).build([{"id": key, "name": " x "}], typed=typed)[0].name == "x"
    assert not any(row_factory(m).mirrorable for m in (_Upper, _Aliased, _Stripped))
    assert all(row_factory(t.row).mirrorable for t in ALL_TABLES)


# -- the backend decides -------------------------------------------------------------------------------


def test_both_backends_return_typed_rows(backend: Env) -> None:
    assert backend.client.tools._transport.typed_rows is True


def test_a_listing_through_either_backend_gives_the_validated_rows(backend: Env, conn, seeded) -> None:
    user, _ = seeded
    listed = list(backend.as_user(user).tools.list(order="name"))
    query = sql.SQL("select {} from public.custom_tools where user_id = %s order by name").format(
        sql.SQL(", ").join(map(sql.Identifier, TOOLS.light_columns))
    )
    assert listed == TOOLS.rows_adapter.validate_python(conn.execute(query, (user,)).fetchall())
    assert [t.name for t in listed] == ["full", "sparse"]
