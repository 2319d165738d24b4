"""A PostgREST (plus Supabase gateway) emulator for respx, backed by the REAL embedded database.

PostgREST cannot be installed here, so the REST backend is tested against this: it parses each request as
PostgREST does (path, query-string grammar, ``Prefer``, the JWT in ``Authorization``), runs the equivalent
SQL on the real database in one transaction under ``set_config('role', ...)`` and
``set_config('request.jwt.claims', ...)`` exactly as PostgREST does, and answers as PostgREST answers:

* status: 200 reads, 206 partial with an exact count, 201 inserts, 200/204 writes by ``return=``,
  400 for 22P02/23502/23514/PGRST1xx/PGRST204, 401 for a bad JWT (PGRST301/PGRST303) and for 42501 as anon,
  403 for 42501 as a signed-in role, 404 for a missing table (PGRST205) or function (PGRST202), 406 for
  PGRST116, 409 for 23505/23503 (PostgREST's errors reference, "HTTP Status Codes" table);
* ``Content-Range``: ``0-24/*``, ``0-24/100`` with ``Prefer: count=exact``, ``*/0`` when empty;
* bodies built by PostgreSQL itself (``json_agg`` over the statement, as PostgREST builds them), so
  timestamps, UUIDs and vectors arrive in exactly the text forms a real server sends;
* error JSON ``{code, details, hint, message}`` from the database's own diagnostics.

It also plays the Supabase gateway: a request whose ``apikey`` is not the project's anon or service key is
refused with 401 ``Invalid API key``. Scripted faults (:meth:`fail_next`, :meth:`rate_limit_next`,
:meth:`drop_after_commit`, :meth:`refuse_next`) drive the retry tests.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import psycopg
import respx
from psycopg import sql

BASE_URL = "http://phase3.test"
SCHEMA = "public"

_COMPARE = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "like",
    "ilike": "ilike",
}
_ARRAY_OPS = {"cs": "@>", "cd": "<@", "ov": "&&"}
_RESERVED_PARAMS = {"select", "order", "limit", "offset", "on_conflict", "columns", "or", "and"}


class PgrstError(Exception):
    """An error PostgREST itself raises (not the database)."""

    def __init__(
        self, status: int, code: str, message: str, details: str | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.hint = status, code, message, details, hint

    def response(self, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}
        return _json_response(self.status, body, headers)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def status_for_sqlstate(code: str, *, anonymous: bool) -> int:
    """PostgREST's SQLSTATE -> HTTP status table."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "42883": 404,
        "42P01": 404,
        "42P17": 500,
        "P0001": 400,
        "53400": 500,
    }
    if code == "42501":
        return 401 if anonymous else 403
    if code in exact:
        return exact[code]
    prefix = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return prefix.get(code[:2], 400)


# -- query-string grammar --------------------------------------------------------------------------------


@dataclass
class Cond:
    """``column op value`` (value: str, list of str, or a keyword for ``is``)."""

    column: str
    op: str
    value: Any
    negate: bool = False


@dataclass
class Tree:
    """``or(...)`` / ``and(...)``."""

    kind: str
    items: list[Cond | Tree] = field(default_factory=list)


def _parse_list(text: str) -> list[str]:
    """``(a,"b,c",d)`` -> ['a', 'b,c', 'd'] (PostgREST's in-list, with ``\\`` escapes inside quotes)."""
    if not (text.startswith("(") and text.endswith(")")):
        raise PgrstError(400, "PGRST100", f'"failed to parse filter (in.{text})"', 'expecting "("')
    body = text[1:-1]
    if not body:
        return []
    items: list[str] = []
    cur: list[str] = []
    quoted = False
    i = 0
    while i < len(body):
        ch = body[i]
        if quoted:
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i + 1])
                i += 2
                continue
            if ch == '"':
                quoted = False
            else:
                cur.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    items.append("".join(cur))
    return items


def parse_condition(column: str, text: str) -> Cond:
    """``eq.value``, ``not.eq.value``, ``in.(...)``, ``is.null``, ``cs.{...}``."""
    negate = text.startswith("not.")
    if negate:
        text = text[4:]
    op, sep, value = text.partition(".")
    if not sep or (op not in _COMPARE and op not in _ARRAY_OPS and op not in ("in", "is")):
        raise PgrstError(
            400,
            "PGRST100",
            f'"failed to parse filter ({text})" (line 1, column {len(op) + 1})',
            'unexpected "' + (value[:1] or text[:1]) + '" expecting operator',
        )
    if op == "in":
        return Cond(column, op, _parse_list(value), negate)
    if op == "is":
        if value.lower() not in ("null", "true", "false", "unknown"):
            raise PgrstError(400, "PGRST100", f'"failed to parse filter (is.{value})"', "unexpected value")
        return Cond(column, op, value.lower(), negate)
    return Cond(column, op, value, negate)


def _split_top(text: str) -> list[str]:
    """Split a logic-tree body on commas outside parentheses and quotes."""
    parts, depth, quoted, cur, i = [], 0, False, [], 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\":
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "({":
            depth += 1
        elif not quoted and ch in ")}":
            depth -= 1
        elif not quoted and ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_tree(kind: str, text: str) -> Tree:
    """``or=(a.lt.x,and(a.eq.x,id.lt.y))``: a logic tree of conditions."""
    if not (text.startswith("(") and text.endswith(")")):
        raise PgrstError(400, "PGRST100", f'"failed to parse logic tree ({text})"', 'expecting "("')
    tree = Tree(kind)
    for part in _split_top(text[1:-1]):
        m = re.match(r"^(not\.)?(or|and)(\(.*\))$", part)
        if m:
            tree.items.append(parse_tree(m.group(2), m.group(3)))
            continue
        column, sep, rest = part.partition(".")
        if not sep:
            raise PgrstError(
                400, "PGRST100", f'"failed to parse logic tree ({text})"', "unexpected end of input"
            )
        cond = parse_condition(column, rest)
        if cond.op != "in" and cond.op != "is":
            cond.value = _unquote(cond.value)
        tree.items.append(cond)
    return tree


@dataclass
class ParsedQuery:
    select: list[str] | None = None
    filters: list[Cond | Tree] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    on_conflict: str | None = None
    columns: list[str] | None = None


def parse_query(params: list[tuple[str, str]]) -> ParsedQuery:
    q = ParsedQuery()
    for key, value in params:
        if key == "select":
            q.select = [c.strip() for c in value.split(",") if c.strip()]
        elif key == "order":
            for term in value.split(","):
                column, _, direction = term.partition(".")
                q.order.append((column, direction.startswith("desc")))
        elif key == "limit":
            q.limit = int(value)
        elif key == "offset":
            q.offset = int(value)
        elif key == "on_conflict":
            q.on_conflict = value
        elif key == "columns":
            q.columns = [c.strip() for c in value.split(",") if c.strip()]
        elif key in ("or", "and"):
            q.filters.append(parse_tree(key, value))
        else:
            q.filters.append(parse_condition(key, value))
    return q


def parse_prefer(headers: httpx.Headers) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in headers.get_list("prefer"):
        for item in header.split(","):
            k, _, v = item.strip().partition("=")
            if k:
                prefs[k] = v
    return prefs


# -- SQL ----------------------------------------------------------------------------------------------------


def _col(alias: str, name: str) -> sql.Composable:
    return sql.Identifier(alias, name)


def _cond_sql(c: Cond, alias: str, params: list[Any]) -> sql.Composable:
    col = _col(alias, c.column)
    if c.op in _COMPARE:
        params.append(c.value)
        out = sql.SQL("{} {} %s").format(col, sql.SQL(_COMPARE[c.op]))
    elif c.op in _ARRAY_OPS:
        params.append(c.value)  # an array literal: PostgreSQL parses it as the column's type
        out = sql.SQL("{} {} %s").format(col, sql.SQL(_ARRAY_OPS[c.op]))
    elif c.op == "in":
        if not c.value:
            out = sql.SQL("false")
        else:
            params.extend(c.value)
            out = sql.SQL("{} in ({})").format(col, sql.SQL(", ").join(sql.SQL("%s") for _ in c.value))
    else:  # is
        out = sql.SQL("{} is {}").format(col, sql.SQL(c.value))
    return sql.SQL("not ({})").format(out) if c.negate else out


def _where(items: list[Cond | Tree], alias: str, params: list[Any], joiner: str = "and") -> sql.Composable:
    parts: list[sql.Composable] = []
    for item in items:
        if isinstance(item, Tree):
            parts.append(sql.SQL("(") + _where(item.items, alias, params, item.kind) + sql.SQL(")"))
        else:
            parts.append(_cond_sql(item, alias, params))
    if not parts:
        return sql.SQL("true")
    return sql.SQL(f" {joiner} ").join(parts)


def _agg(inner: sql.Composable) -> sql.Composable:
    # PostgREST's own shape: the statement in a CTE, the body aggregated by PostgreSQL.
    return sql.SQL(
        "with pgrst_source as ({}) select coalesce(json_agg(_postgrest_t), '[]')::text as body, "
        "count(*) as page_total from pgrst_source _postgrest_t"
    ).format(inner)


# -- faults -------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of (or after) serving a request."""

    kind: str  # "status" | "drop_after_commit" | "refuse"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    method: str | None = None


class PostgrestEmulator:
    """PostgREST at ``{BASE_URL}/rest/v1`` over the real database at ``db_url``."""

    def __init__(self, db_url: str, *, jwt_secret: str, anon_key: str, service_key: str) -> None:
        self.db_url = db_url
        self.jwt_secret = jwt_secret
        self.anon_key = anon_key
        self.service_key = service_key
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self.faults: deque[Fault] = deque()
        #: Statements run on the database for requests (the no-request tests assert it stays put).
        self.statements = 0
        self._columns: dict[str, list[str]] = {}

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, autocommit=True)
        return self._conn

    @property
    def backend_pid(self) -> int:
        return self.conn.info.backend_pid

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @contextmanager
    def mount(self) -> Iterator[respx.MockRouter]:
        """A respx router answering every request to ``BASE_URL`` from this emulator."""
        with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as router:
            router.route().mock(side_effect=self.handle)
            yield router

    # -- scripted faults --------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        method: str | None = None,
    ) -> None:
        """The next ``n`` requests (of ``method``, if given) get ``status`` without reaching the database."""
        for _ in range(n):
            self.faults.append(Fault("status", status, dict(headers or {}), body, method))

    def rate_limit_next(self, retry_after: str = "1", n: int = 1) -> None:
        """The next ``n`` requests get 429 with ``Retry-After``."""
        body = json.dumps({"message": "Too Many Requests"}).encode()
        self.fail_next(n, status=429, headers={"Retry-After": retry_after}, body=body)

    def drop_after_commit(self, method: str = "POST") -> None:
        """The next ``method`` request runs and COMMITS, then the connection drops before the answer."""
        self.faults.append(Fault("drop_after_commit", method=method))

    def refuse_next(self, n: int = 1) -> None:
        """The next ``n`` requests fail to connect (``httpx.ConnectError``), reaching nothing."""
        for _ in range(n):
            self.faults.append(Fault("refuse"))

    def _take_fault(self, method: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.method is None or fault.method == method:
                self.faults.remove(fault)
                return fault
        return None

    # -- the server ------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """respx side effect: one HTTP exchange."""
        fault = self._take_fault(request.method)
        if fault is not None and fault.kind == "refuse":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if fault is not None and fault.kind == "status":
            body = (
                fault.body
                if fault.body is not None
                else json.dumps(
                    {
                        "code": "PGRST003" if fault.status == 503 else None,
                        "details": None,
                        "hint": None,
                        "message": "Timed out acquiring connection from connection pool."
                        if fault.status == 503
                        else "injected failure",
                    }
                ).encode()
            )
            return _json_response(fault.status, body, fault.headers)
        try:
            claims = self._authenticate(request)
            with self._lock:
                response = self._serve(request, claims)
        except PgrstError as exc:
            headers = {}
            if exc.status == 401 and exc.code.startswith("PGRST3"):
                headers["WWW-Authenticate"] = (
                    f'Bearer error="invalid_token", error_description="{exc.message}"'
                )
            return exc.response(headers)
        if fault is not None and fault.kind == "drop_after_commit":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return response

    def _authenticate(self, request: httpx.Request) -> dict[str, Any]:
        # The gateway: the apikey must be one of the project's keys.
        if request.headers.get("apikey") not in (self.anon_key, self.service_key):
            raise PgrstError(
                401,
                "",
                "Invalid API key",
                hint="Double check your Supabase `anon` or `service_role` API key.",
            )
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return {"role": "anon"}
        token = auth[7:]
        try:
            return dict(
                jwt.decode(token, self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
            )
        except jwt.ExpiredSignatureError:
            raise PgrstError(401, "PGRST303", "JWT expired") from None
        except jwt.InvalidSignatureError:
            raise PgrstError(401, "PGRST301", "JWSError JWSInvalidSignature") from None
        except jwt.PyJWTError:
            raise PgrstError(
                401,
                "PGRST301",
                "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)",
            ) from None

    def _table_columns(self, table: str) -> list[str]:
        if table not in self._columns:
            rows = self.conn.execute(
                "select a.attname from pg_attribute a where a.attrelid = to_regclass(%s) and a.attnum > 0 "
                "and not a.attisdropped order by a.attnum",
                (f"{SCHEMA}.{table}",),
            ).fetchall()
            if not rows:
                raise PgrstError(
                    404, "PGRST205", f"Could not find the table '{SCHEMA}.{table}' in the schema cache"
                )
            self._columns[table] = [r[0] for r in rows]
        return self._columns[table]

    def _serve(self, request: httpx.Request, claims: dict[str, Any]) -> httpx.Response:
        path = request.url.path
        if not path.startswith("/rest/v1/"):
            return _json_response(404, {"message": "no Route matched with those values"})
        name = path[len("/rest/v1/") :]
        role = str(claims.get("role") or "anon")
        try:
            query = parse_query(list(request.url.params.multi_items()))
            if name.startswith("rpc/"):
                return self._rpc(request, name[4:], role, claims, query)
            self._table_columns(name)
            return self._table(request, name, role, claims, query)
        except psycopg.Error as exc:
            return self._db_error(exc, role)

    def _db_error(self, exc: psycopg.Error, role: str) -> httpx.Response:
        code = exc.sqlstate or "08000"
        diag = exc.diag
        body = {
            "code": code,
            "details": diag.message_detail,
            "hint": diag.message_hint,
            "message": diag.message_primary or str(exc),
        }
        return _json_response(status_for_sqlstate(code, anonymous=role == "anon"), body)

    @contextmanager
    def _transaction(
        self, request: httpx.Request, role: str, claims: dict[str, Any]
    ) -> Iterator[psycopg.Connection[Any]]:
        conn = self.conn
        with conn.transaction():
            conn.execute(
                "select set_config('search_path', 'public, extensions', true), set_config('role', %s, true), "
                "set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true), "
                "set_config('request.path', %s, true)",
                (role, json.dumps(claims), request.method, request.url.path),
            )
            yield conn

    def _run(self, conn: psycopg.Connection[Any], stmt: sql.Composable, params: list[Any]) -> tuple[Any, ...]:
        self.statements += 1
        row = conn.execute(stmt, params).fetchone()
        assert row is not None
        return tuple(row)

    # -- tables ------------------------------------------------------------------------------------------

    def _returning(self, table: str, query: ParsedQuery, alias: str) -> sql.Composable:
        cols = query.select if query.select and query.select != ["*"] else self._table_columns(table)
        return sql.SQL(", ").join(_col(alias, c) for c in cols)

    def _range(self, status: int, n: int, offset: int, total: int | None) -> tuple[int, str]:
        total_text = "*" if total is None else str(total)
        if n == 0:
            return status, f"*/{total_text}"
        if total is not None and n < total and status == 200:
            status = 206
        return status, f"{offset}-{offset + n - 1}/{total_text}"

    def _table(
        self, request: httpx.Request, table: str, role: str, claims: dict[str, Any], query: ParsedQuery
    ) -> httpx.Response:
        prefer = parse_prefer(request.headers)
        t = sql.Identifier(SCHEMA, table)
        alias = "pgrst_t"
        params: list[Any] = []
        method = request.method
        with self._transaction(request, role, claims) as conn:
            if method in ("GET", "HEAD"):
                where = _where(query.filters, alias, params)
                stmt = sql.SQL("select {} from {} as {} where {}").format(
                    self._returning(table, query, alias), t, sql.Identifier(alias), where
                )
                if query.order:
                    stmt += sql.SQL(" order by ") + sql.SQL(", ").join(
                        sql.SQL("{} {}").format(_col(alias, c), sql.SQL("desc" if d else "asc"))
                        for c, d in query.order
                    )
                if query.limit is not None:
                    stmt += sql.SQL(" limit {}").format(sql.Literal(query.limit))
                if query.offset:
                    stmt += sql.SQL(" offset {}").format(sql.Literal(query.offset))
                body, n = self._run(conn, _agg(stmt), params)
                total = None
                if prefer.get("count") == "exact":
                    count_params: list[Any] = []
                    (total,) = self._run(
                        conn,
                        sql.SQL("select count(*) from {} as {} where {}").format(
                            t, sql.Identifier(alias), _where(query.filters, alias, count_params)
                        ),
                        count_params,
                    )
                if (
                    request.headers.get("accept", "").startswith("application/vnd.pgrst.object+json")
                    and n != 1
                ):
                    raise PgrstError(
                        406,
                        "PGRST116",
                        "JSON object requested, multiple (or no) rows returned",
                        f"The result contains {n} rows",
                    )
                status, content_range = self._range(200, n, query.offset, total)
                headers = {"Content-Range": content_range}
                return _json_response(status, b"" if method == "HEAD" else body.encode(), headers)
            if method == "POST":
                return self._insert(request, conn, table, query, prefer)
            if method == "PATCH":
                payload = json.loads(request.content or b"{}")
                self._check_keys(table, payload.keys())
                assignments = sql.SQL(", ").join(
                    sql.SQL("{} = _r.{}").format(sql.Identifier(k), sql.Identifier(k)) for k in payload
                )
                stmt = sql.SQL(
                    "update {} as {} set {} from json_populate_record(null::{}, %s::json) as _r where {} returning {}"  # noqa: E501
                )
                params.append(json.dumps(payload))
                stmt = stmt.format(
                    t,
                    sql.Identifier(alias),
                    assignments,
                    t,
                    _where(query.filters, alias, params),
                    self._returning(table, query, alias),
                )
            elif method == "DELETE":
                stmt = sql.SQL("delete from {} as {} where {} returning {}").format(
                    t,
                    sql.Identifier(alias),
                    _where(query.filters, alias, params),
                    self._returning(table, query, alias),
                )
            else:
                raise PgrstError(405, "PGRST117", f"Unsupported HTTP method: {method}")
            body, n = self._run(conn, _agg(stmt), params)
        if prefer.get("return") == "representation":
            _, content_range = self._range(200, n, 0, None)
            return _json_response(200, body.encode(), {"Content-Range": content_range})
        return httpx.Response(204, headers={"Content-Range": f"0-{n - 1}/*" if n else "*/*"})

    def _check_keys(self, table: str, keys: Any) -> None:
        known = set(self._table_columns(table))
        for key in keys:
            if key not in known:
                raise PgrstError(
                    400, "PGRST204", f"Could not find the '{key}' column of '{table}' in the schema cache"
                )

    def _insert(
        self,
        request: httpx.Request,
        conn: psycopg.Connection[Any],
        table: str,
        query: ParsedQuery,
        prefer: dict[str, str],
    ) -> httpx.Response:
        payload = json.loads(request.content or b"[]")
        rows = payload if isinstance(payload, list) else [payload]
        if query.columns is not None:
            columns = query.columns
        else:
            columns = list(rows[0].keys()) if rows else []
            if any(set(r) != set(columns) for r in rows):
                raise PgrstError(400, "PGRST102", "All object keys must match")
        self._check_keys(table, columns)
        t = sql.Identifier(SCHEMA, table)
        alias = "pgrst_t"
        conflict = sql.SQL("")
        if query.on_conflict:
            target = sql.SQL(", ").join(sql.Identifier(c.strip()) for c in query.on_conflict.split(","))
            if prefer.get("resolution") == "ignore-duplicates":
                conflict = sql.SQL(" on conflict ({}) do nothing").format(target)
            elif prefer.get("resolution") == "merge-duplicates":
                conflict = sql.SQL(" on conflict ({}) do update set {}").format(
                    target,
                    sql.SQL(", ").join(
                        sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
                        for c in columns
                    ),
                )
        out: list[Any] = []
        for row in rows:
            # missing=default: a key the row leaves out gets the column default, as an INSERT naming only
            # the given columns would; otherwise PostgREST inserts NULL for it.
            cols = [c for c in columns if c in row] if prefer.get("missing") == "default" else columns
            values = {c: row.get(c) for c in cols}
            if cols:
                stmt = sql.SQL(
                    "insert into {} as {} ({}) select {} from json_populate_record(null::{}, %s::json){} returning {}"  # noqa: E501
                ).format(
                    t,
                    sql.Identifier(alias),
                    sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sql.SQL(", ").join(map(sql.Identifier, cols)),
                    t,
                    conflict,
                    self._returning(table, query, alias),
                )
            else:
                stmt = sql.SQL("insert into {} as {} default values{} returning {}").format(
                    t, sql.Identifier(alias), conflict, self._returning(table, query, alias)
                )
            body, _ = self._run(conn, _agg(stmt), [json.dumps(values)] if cols else [])
            out.extend(json.loads(body))
        if prefer.get("return") == "representation":
            return _json_response(201, json.dumps(out).encode(), {"Content-Range": "*/*"})
        return httpx.Response(201, headers={"Content-Range": "*/*"})

    # -- functions ---------------------------------------------------------------------------------------

    def _rpc(
        self, request: httpx.Request, fn: str, role: str, claims: dict[str, Any], query: ParsedQuery
    ) -> httpx.Response:
        args = json.loads(request.content or b"{}") if request.method == "POST" else dict(request.url.params)
        candidates = self.conn.execute(
            """
            select p.proretset, p.prorettype = 'void'::regtype, p.pronargdefaults,
                   coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
                   array(select format_type(t, null) from unnest(
                             coalesce(p.proallargtypes, p.proargtypes::oid[]))
                         with ordinality as u(t, n) order by n)
            from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = %s and p.proname = %s
            """,
            (SCHEMA, fn),
        ).fetchall()
        chosen = None
        for retset, is_void, ndefaults, names, modes, types in candidates:
            inputs = [
                (nm, tp)
                for i, (nm, tp) in enumerate(zip(names, types, strict=False))
                if (modes[i] if modes else "i") in ("i", "b", "v")
            ]
            required = {nm for nm, _ in inputs[: len(inputs) - ndefaults]}
            if set(args) <= {nm for nm, _ in inputs} and required <= set(args):
                chosen = (retset, is_void, [(nm, tp) for nm, tp in inputs if nm in args])
                break
        if chosen is None:
            keys = ", ".join(sorted(args))
            raise PgrstError(
                404,
                "PGRST202",
                f"Could not find the function {SCHEMA}.{fn}({keys}) in the schema cache",
                f"Searched for the function {SCHEMA}.{fn} with parameters {keys} or with a single unnamed "
                "json/jsonb parameter, but no matches were found in the schema cache.",
            )
        retset, is_void, inputs = chosen
        # As PostgREST: the JSON body becomes a typed record (json_to_record), then named arguments.
        record = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(nm), sql.SQL(tp)) for nm, tp in inputs
        )
        call_args = sql.SQL(", ").join(
            sql.SQL("{} := _a.{}").format(sql.Identifier(nm), sql.Identifier(nm)) for nm, _ in inputs
        )
        call = sql.SQL("{}({})").format(sql.Identifier(SCHEMA, fn), call_args)
        source = (
            sql.SQL("json_to_record(%s::json) as _a({})").format(record)
            if inputs
            else sql.SQL("(select 1) as _a")
        )
        params: list[Any] = [json.dumps(args)] if inputs else []
        with self._transaction(request, role, claims) as conn:
            if retset:
                stmt = _agg(sql.SQL("select _r.* from {}, lateral {} as _r").format(source, call))
                body, n = self._run(conn, stmt, params)
                _, content_range = self._range(200, n, 0, None)
                return _json_response(200, body.encode(), {"Content-Range": content_range})
            stmt = sql.SQL("select to_json({})::text, 1 from {}").format(call, source)
            body, _ = self._run(conn, stmt, params)
        # A void function answers 200 with a JSON null (PostgREST#1795).
        return _json_response(200, b"null" if is_void or body is None else body.encode())
