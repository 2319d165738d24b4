"""A PostgREST (plus Supabase gateway) emulator for respx, backed by the REAL embedded database.

PostgREST cannot be installed here, so the REST backend is tested against this. It is written from
PostgREST's own source (repository PostgREST/postgrest, read at commit 48346789) and as strict as the real
server wherever the SDK could notice. Each behaviour and the file it comes from:

==============================================================  ==============================================
Behaviour                                                       Source
==============================================================  ==============================================
query string split on ``&`` and ``;``, ``+`` is a space         http-types ``Network/HTTP/Types/URI.hs``
param classes (select/columns/on_conflict, order/limit/offset/  ``src/library/PostgREST/ApiRequest/
and/or, filters), ``k`` without ``=`` dropped                   QueryParams.hs`` ``parse``
the grammar: pOpExpr, pListVal, pLogicTree, pLogicSingleVal     ``ApiRequest/QueryParams.hs``
(a ``{`` value is an array literal up to its ``}``), pOrder,
pFieldName, pJsonPath; a parse failure is 400 PGRST100 with
``"<what> (<text>)" (line 1, column N)``
filters in SQL: ``= any('{...}')`` for in-lists (values cut at  ``Query/SqlFragment.hs`` pgFmtFilter,
NUL), ``*`` -> ``%`` in like, is/isdistinct/fts/quantifiers     pgBuildArrayLiteral
``db-max-rows`` caps reads and function rows, never writes;     ``Plan.hs`` treeRestrictRange,
default 1000 as on Supabase                                     ``QueryLimitedSpec.hs``
limit/offset/Range, negative limit 416 PGRST103, offset past    ``ApiRequest.hs`` getRanges,
the counted total 416                                           ``RangeQuery.hs``, ``RangeSpec.hs``
Content-Range: reads ``a-b/total`` or ``*/total``; insert and   ``Response.hs`` + ``RangeQuery.hs``
delete ``*/*`` (``*/n`` counted); update ``0-(n-1)/*``;         contentRangeH, ``DeleteSpec.hs``,
functions ``0-0/*``; 206 for a partial counted page             ``UpdateSpec.hs``, ``InsertSpec.hs``
201 insert, 200/204 by ``return=``, 204 for a void function     ``Response.hs``, ``RpcSpec.hs``
reads in a READ ONLY transaction                                ``MainTx.hs``
SQLSTATE -> status (22023 "role ... does not exist" 401, 21000  ``Error.hs`` mapSQLtoHTTP
500 unless pg-safeupdate, 57P01 503, PTxxx, 42501 401/403 by
whether the role is the anonymous one)
``RAISE SQLSTATE 'PGRST'`` with JSON message/detail             ``Error.hs`` parseRaisePGRST
``Proxy-Status: PostgREST; error=<code>`` on every error        ``Error.hs`` errorResponseFor
JWT errors 401 PGRST301/PGRST303 with WWW-Authenticate          ``Error.hs`` JwtError, ``ErrorSpec.hs``
function lookup by argument names; several matches 300         ``Plan.hs`` findProc, ``Error.hs``
PGRST203; none 404 PGRST202
``Prefer`` parsed as Preferences.hs (first valid value wins,    ``ApiRequest/Preferences.hs``,
others ignored) and ``Preference-Applied`` in its order;        ``Response.hs`` responsePreferences,
a resolution without on_conflict targets the primary key        ``Plan.hs``, ``UpsertSpec.hs``
pool acquisition timeout 504 PGRST003                           ``Error.hs`` pgErrorStatus
``Retry-After: 0`` on every 503                                 ``App.hs`` addRetryHint
a pool of connections, one per request's transaction            PostgREST's db-pool (``AppState.hs``)
invalid path 404 PGRST125, missing table 404 PGRST205           ``Error.hs``, ``ErrorSpec.hs``
a wrong ``apikey`` 401; a request target over 8 KB 414          the Supabase gateway (not PostgREST)
==============================================================  ==============================================

``tests/emulator/test_spec_cases.py`` replays requests from PostgREST's ``test/spec/Feature`` files against
this emulator and checks the statuses, headers and bodies those specs expect.

Bodies are built by PostgreSQL itself (``json_agg`` over the statement, as PostgREST builds them), so
timestamps, UUIDs and vectors arrive in exactly the text forms a real server sends. Scripted faults
(:meth:`fail_next`, :meth:`rate_limit_next`, :meth:`drop_after_commit`, :meth:`refuse_next`) drive the
retry tests; an async client's requests are served in worker threads so that they overlap.

Differences that remain (none is a request the SDK sends): no resource embedding (PGRST200/PGRST108), no
aggregates (PGRST123, as with ``db-aggregates-enabled = false``), JSON only (no CSV, XML, binary or
``vnd.pgrst.plan``), no ``Content-Location``/``Location`` headers,
``count=planned|estimated`` counted exactly, ``handling=strict`` and ``max-affected`` not applied, 201
(not 200) for a ``merge-duplicates`` insert that only updated, no
single-unnamed-parameter functions, no ``PUT`` upserts, and parse-error ``details`` that say what Parsec
says in other words (the ``message`` with its column is the same).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
import jwt
import psycopg
import psycopg_pool
import respx
from psycopg import sql

BASE_URL = "http://phase3.test"
SCHEMA = "public"
#: Supabase's default ``db-max-rows``.
DEFAULT_MAX_ROWS = 1000
#: What a gateway in front of PostgREST accepts as a request target (nginx's default header buffer: 8 KB;
#: issue 13 measured the SDK against this limit).
MAX_URL_BYTES = 8192
APP_NAME = "postgrest-emulator"


class PgrstError(Exception):
    """An error PostgREST itself raises (not the database)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.hint = status, code, message, details, hint
        self.headers = dict(headers or {})

    def response(self) -> httpx.Response:
        body = {"code": self.code, "details": self.details, "hint": self.hint, "message": self.message}
        return _error_response(self.status, self.code, body, self.headers)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _error_response(status: int, code: str | None, body: Any, headers: dict[str, str]) -> httpx.Response:
    # Error.hs errorResponseFor: every error carries ``Proxy-Status: PostgREST; error=<code>``.
    extra = {"Proxy-Status": f"PostgREST; error={code}"} if code else {}
    return _json_response(status, body, {**extra, **headers})


def status_for_sqlstate(code: str, message: str = "", *, authenticated: bool) -> int:
    """Error.hs ``mapSQLtoHTTP``: a SQLSTATE (and, for two of them, the message) -> HTTP status."""
    exact = {
        "23503": 409,  # foreign_key_violation
        "23505": 409,  # unique_violation
        "25006": 405,  # read_only_sql_transaction
        "53400": 500,  # config limit exceeded (before the 53 class below)
        "57P01": 503,  # terminating connection due to administrator command
        "P0001": 400,  # default code of RAISE
        "42P01": 404,  # undefined table
        "42P17": 500,  # infinite recursion
    }
    if code == "21000":  # cardinality_violation: pg-safeupdate's message is the client's fault
        return 400 if message.endswith("requires a WHERE clause") else 500
    if code == "22023":  # invalid_parameter_value: a JWT role that does not exist (PostgREST#3601)
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if code == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if code == "42501":
        return 403 if authenticated else 401
    if code in exact:
        return exact[code]
    if code.startswith("PT") and code[2:].isdigit():
        return int(code[2:])
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


# -- the query string (http-types Network/HTTP/Types/URI.hs parseQueryReplacePlus) -------------------------


def _url_decode(raw: bytes) -> bytes:
    # ``+`` is a space; ``%XX`` a byte; a malformed escape stays as it is.
    out = bytearray()
    i = 0
    hexdigits = b"0123456789abcdefABCDEF"
    while i < len(raw):
        b = raw[i]
        if b == 0x2B:
            out.append(0x20)
        elif b == 0x25 and i + 2 < len(raw) and raw[i + 1] in hexdigits and raw[i + 2] in hexdigits:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 2
        else:
            out.append(b)
        i += 1
    return bytes(out)


def parse_query_string(raw: bytes) -> list[tuple[str, str | None]]:
    """``a=1&b;c=2`` -> [("a", "1"), ("b", None), ("c", "2")], decoded as PostgREST decodes them."""
    raw = raw[1:] if raw.startswith(b"?") else raw
    items: list[tuple[str, str | None]] = []
    start = 0
    while start < len(raw):
        end = start
        while end < len(raw) and raw[end] not in (0x26, 0x3B):  # '&' and ';' both separate
            end += 1
        pair = raw[start:end]
        key, eq, value = pair.partition(b"=")
        items.append(
            (
                _url_decode(key).decode("utf-8", "replace"),
                _url_decode(value).decode("utf-8", "replace") if eq else None,
            )
        )
        start = end + 1
    return items


# -- the grammar (src/library/PostgREST/ApiRequest/QueryParams.hs) --------------------------------------


class _Fail(Exception):
    """A parser failure at a position (caught by alternatives, or turned into PGRST100)."""

    def __init__(self, pos: int, expecting: str):
        super().__init__(expecting)
        self.pos = pos
        self.expecting = expecting


@dataclass(frozen=True)
class JsonOp:
    """One ``->``/``->>`` step of a JSON path: a key or an array index."""

    arrow: str
    key: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class FieldRef:
    """A column with an optional JSON path."""

    name: str
    path: tuple[JsonOp, ...] = ()


@dataclass(frozen=True)
class OpExpr:
    """``[not.]op[(any|all)][(lang)].value``; ``value`` is a str, or a list of str for ``in``."""

    negate: bool
    op: str
    value: Any
    quant: str | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Cond:
    """A filter: ``field`` and its operator expression."""

    field: FieldRef
    expr: OpExpr

    @property
    def column(self) -> str:
        return self.field.name

    @property
    def op(self) -> str:
        return self.expr.op

    @property
    def value(self) -> Any:
        return self.expr.value

    @property
    def negate(self) -> bool:
        return self.expr.negate


@dataclass(frozen=True)
class Tree:
    """``[not.]and(...)`` / ``[not.]or(...)``."""

    kind: str
    items: list[Cond | Tree] = field(default_factory=list)
    negate: bool = False


@dataclass(frozen=True)
class OrderTerm:
    """One ``order`` term."""

    field: FieldRef
    descending: bool | None
    nulls: str | None


@dataclass(frozen=True)
class SelectItem:
    """One plain ``select`` item (``alias:field->path::cast``)."""

    field: FieldRef
    alias: str | None
    cast: str | None


_SIMPLE_OPS = ("neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj")
_QUANT_OPS = ("eq", "gte", "gt", "lte", "lt", "like", "ilike", "match", "imatch")
_FTS_OPS = ("fts", "plfts", "phfts", "wfts")
_IS_VALUES = ("null", "not_null", "true", "false", "unknown")


class _Grammar:
    """A recursive-descent reading of QueryParams.hs's Parsec parsers over one parameter value.

    ``try`` in the Haskell source is a saved position here; an alternative that consumed input without
    ``try`` is an error, as in Parsec.
    """

    def __init__(self, text: str, source: str):
        self.t = text
        self.i = 0
        self.source = source

    # primitives ---------------------------------------------------------------------------------------

    def fail(self, expecting: str, pos: int | None = None) -> NoReturn:
        raise _Fail(self.i if pos is None else pos, expecting)

    def peek(self, n: int = 1) -> str:
        return self.t[self.i : self.i + n]

    def eof(self) -> bool:
        return self.i >= len(self.t)

    def string(self, s: str) -> bool:
        """``try (string s)``: consume ``s`` if it is next."""
        if self.t.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    def char(self, c: str) -> None:
        if not self.string(c):
            self.fail(f'"{c}"')

    def ws(self) -> None:
        while self.peek() in (" ", "\t") and not self.eof():
            self.i += 1

    def attempt(self, fn: Callable[[], Any]) -> Any:
        """Parsec ``try``: on failure, rewind and return None."""
        save = self.i
        try:
            return fn()
        except _Fail:
            self.i = save
            return None

    # values ------------------------------------------------------------------------------------------

    def quoted(self) -> str:
        """pQuotedValue: ``"..."`` with ``\\`` escaping any character."""
        self.char('"')
        out: list[str] = []
        while True:
            if self.eof():
                self.fail('"\\"" (end of quoted value)')
            ch = self.t[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "\\":
                if self.i + 1 >= len(self.t):
                    self.i += 1
                    self.fail("any character after \\")
                out.append(self.t[self.i + 1])
                self.i += 2
            else:
                out.append(ch)
                self.i += 1

    def many_none_of(self, chars: str) -> str:
        start = self.i
        while not self.eof() and self.t[self.i] not in chars:
            self.i += 1
        return self.t[start : self.i]

    def quoted_then_delim(self) -> str | None:
        """``try (pQuotedValue <* notFollowedBy (noneOf ",)"))``."""

        def p() -> str:
            v = self.quoted()
            if not self.eof() and self.t[self.i] not in ",)":
                self.fail('"," or ")"')
            return v

        return self.attempt(p)  # type: ignore[no-any-return]

    def list_element(self) -> str:
        """pListElement."""
        v = self.quoted_then_delim()
        return v if v is not None else self.many_none_of(",)")

    def list_val(self) -> list[str]:
        """pListVal: ``lexeme '(' *> pListElement `sepBy1` ',' <* lexeme ')'``."""
        self.ws()
        self.char("(")
        self.ws()
        items = [self.list_element()]
        while self.string(","):
            items.append(self.list_element())
        self.ws()
        self.char(")")
        self.ws()
        return items

    def logic_single_val(self) -> str:
        """pLogicSingleVal: a quoted value, else a ``{...}`` array literal, else up to ``,`` or ``)``."""
        v = self.quoted_then_delim()
        if v is not None:
            return v

        def pg_array() -> str:
            self.char("{")
            body = self.many_none_of("{}")
            self.char("}")
            return "{" + body + "}"

        arr = self.attempt(pg_array)
        if arr is not None:
            return arr  # type: ignore[no-any-return]
        return self.many_none_of(",)")

    def single_val(self) -> str:
        """pSingleVal: everything that is left."""
        v = self.t[self.i :]
        self.i = len(self.t)
        return v

    # names -------------------------------------------------------------------------------------------

    def identifier(self) -> str:
        """pIdentifier: letters, digits, ``_``, `` ``, ``$`` (at least one), stripped."""
        start = self.i
        while not self.eof():
            ch = self.t[self.i]
            if ch.isalpha() or ch in "0123456789_ $":
                self.i += 1
            else:
                break
        if self.i == start:
            self.fail("field name (* or [a..z0..9_$])")
        return self.t[start : self.i].strip()

    def sep_by_dash(self, part: Callable[[], str]) -> str:
        parts = [part()]
        while self.peek() == "-" and self.peek(2) != "->":
            self.i += 1
            parts.append(part())
        return "-".join(parts)

    def field_name(self) -> str:
        """pFieldName: a quoted name or dash-separated identifiers."""
        if self.peek() == '"':
            return self.quoted()
        return self.sep_by_dash(self.identifier)

    def json_key_ident(self) -> str:
        start = self.i
        while not self.eof() and self.t[self.i] not in "(-:.,>)":
            self.i += 1
        if self.i == start:
            self.fail("any non reserved character different from: .,>()")
        return self.t[start : self.i].strip()

    def json_path(self) -> tuple[JsonOp, ...]:
        """pJsonPath: ``->key``, ``->>key``, ``->0``, ``->-1`` steps."""
        ops: list[JsonOp] = []
        while True:
            if self.string("->>"):
                arrow = "->>"
            elif self.string("->"):
                arrow = "->"
            else:
                return tuple(ops)

            def index() -> int:
                start = self.i
                self.string("-")
                digits = self.i
                while not self.eof() and self.t[self.i] in "0123456789":
                    self.i += 1
                if self.i == digits:
                    self.fail("digit")
                rest = self.t[self.i :]
                if not (rest == "" or rest.startswith(("->", "::", ".", ","))):
                    self.fail("end of index")
                return int(self.t[start : self.i])

            idx = self.attempt(index)
            if idx is not None:
                ops.append(JsonOp(arrow, index=idx))
                continue
            key = self.quoted() if self.peek() == '"' else self.sep_by_dash(self.json_key_ident)
            ops.append(JsonOp(arrow, key=key))

    def field(self) -> FieldRef:
        """pField: ``lexeme (fieldName, jsonPath)``."""
        self.ws()
        name = self.field_name()
        path = self.json_path()
        self.ws()
        return FieldRef(name, path)

    # operators ---------------------------------------------------------------------------------------

    def op_expr(self, value: Callable[[], str]) -> OpExpr:
        """pOpExpr."""
        negate = self.attempt(lambda: self.string("not.") or self.fail("not")) is not None
        if self.string("in."):
            return OpExpr(negate, "in", self.list_val())
        if self.string("is."):
            for kw in _IS_VALUES:  # case-insensitive (ciString)
                if self.t[self.i : self.i + len(kw)].lower() == kw:
                    self.i += len(kw)
                    return OpExpr(negate, "is", kw)
            self.fail("isVal: (null, not_null, true, false, unknown)")
        if self.string("isdistinct."):
            return OpExpr(negate, "isdistinct", value())
        save = self.i
        for op in _FTS_OPS:
            if self.string(op):
                lang = None
                if self.peek() == "(":

                    def language() -> str:
                        self.char("(")
                        name = self.identifier()
                        self.char(")")
                        return name

                    lang = self.attempt(language)
                if self.string("."):
                    return OpExpr(negate, op, value(), lang=lang)
                self.i = save
                break
        for op in _SIMPLE_OPS:
            if self.t.startswith(op + ".", self.i):
                self.i += len(op) + 1
                return OpExpr(negate, op, value())
        for op in _QUANT_OPS:
            if self.t.startswith(op, self.i):
                self.i += len(op)
                quant = None
                for q in ("any", "all"):
                    if self.string(f"({q})"):
                        quant = q
                        break
                if self.string("."):
                    return OpExpr(negate, op, value(), quant=quant)
                self.i = save
        self.fail("operator (eq, gt, ...)")

    def logic_tree(self) -> Cond | Tree:
        """pLogicTree: a filter, or ``[not.](and|or)(tree,tree,...)``."""

        def logic_filter() -> Cond:
            f = self.field()
            self.char(".")
            return Cond(f, self.op_expr(self.logic_single_val))

        cond = self.attempt(logic_filter)
        if cond is not None:
            return cond  # type: ignore[no-any-return]
        negate = self.string("not.")
        if self.string("and"):
            kind = "and"
        elif self.string("or"):
            kind = "or"
        else:
            self.fail("logic operator (and, or)")
        self.ws()
        self.char("(")
        self.ws()
        items = [self.logic_tree()]
        while True:
            save = self.i
            self.ws()
            if self.string(","):
                self.ws()
                items.append(self.logic_tree())
            else:
                self.i = save
                break
        self.ws()
        self.char(")")
        self.ws()
        return Tree(kind, items, negate)

    def order(self) -> list[OrderTerm]:
        """pOrder: ``field[.asc|.desc][.nullsfirst|.nullslast]`` separated by commas."""
        terms: list[OrderTerm] = []
        while True:
            self.ws()
            save = self.i
            name = self.attempt(self.field_name)
            if name is not None and self.peek() == "(":
                raise PgrstError(
                    400, "PGRST108", f"'{name}' is not an embedded resource in this request", None
                )
            self.i = save
            f = self.field()
            direction = None
            if self.attempt(lambda: self.string(".asc") or self.fail("asc")):
                direction = False
            elif self.attempt(lambda: self.string(".desc") or self.fail("desc")):
                direction = True
            nulls = None
            for n in ("nullsfirst", "nullslast"):
                if self.string("." + n):
                    nulls = n
                    break
            if not (self.eof() or self.peek() == ","):
                self.fail('"," or end of input')
            self.ws()
            terms.append(OrderTerm(f, direction, nulls))
            if not self.string(","):
                return terms

    def columns(self) -> list[str]:
        """pColumns: field names separated by commas."""
        names = [self.field_name()]
        while True:
            self.ws()
            if not self.string(","):
                return names
            self.ws()
            names.append(self.field_name())

    def select(self) -> list[SelectItem]:
        """pFieldForest without embedding (which the emulator has no relationships for)."""
        items: list[SelectItem] = []
        if self.eof():
            return items
        while True:
            self.ws()
            if self.string("*"):
                items.append(SelectItem(FieldRef("*"), None, None))
            else:
                save = self.i
                alias = None

                def alias_sep() -> str:
                    name = self.field_name()
                    if not self.string(":") or self.peek() == ":":
                        self.fail('":"')
                    return name

                alias = self.attempt(alias_sep)
                if self.t.startswith("count()", self.i) or self.t.startswith("...", self.i):
                    raise PgrstError(400, "PGRST123", "Use of aggregate functions is not allowed")
                f = self.field()
                if self.peek() in ("(", "!"):
                    self.i = save
                    raise PgrstError(
                        400,
                        "PGRST200",
                        f"Could not find a relationship between '?' and '{f.name}' in the schema cache",
                    )
                cast = None
                if self.string("::"):
                    cast = self.identifier()
                if self.peek() == "." and any(
                    self.t.startswith(f".{a}()", self.i) for a in ("sum", "avg", "count", "max", "min")
                ):
                    raise PgrstError(400, "PGRST123", "Use of aggregate functions is not allowed")
                items.append(SelectItem(f, alias, cast))
            self.ws()
            if not (self.eof() or self.peek() in ",)"):
                self.fail('"," or end of input')
            if not self.string(","):
                return items


def _run_parser(source: str, text: str, fn: Callable[[_Grammar], Any]) -> Any:
    g = _Grammar(text, source)
    try:
        return fn(g)
    except _Fail as exc:
        # Error.hs / QueryParams.hs mapError: message ``"<source>" (line 1, column N)``, details Parsec's
        # "unexpected ... expecting ..." (worded alike here, not character for character).
        found = text[exc.pos : exc.pos + 1]
        unexpected = f'unexpected "{found}"' if found else "unexpected end of input"
        raise PgrstError(
            400,
            "PGRST100",
            f'"{source}" (line 1, column {exc.pos + 1})',
            f"{unexpected} expecting {exc.expecting}",
        ) from None


def parse_filter(value: str, *, rpc_read: bool = False) -> OpExpr | None:
    """A filter's value (``eq.x``, ``not.in.(a,b)``); None for an RPC read's plain argument."""

    def p(g: _Grammar) -> OpExpr | None:
        if rpc_read:
            save = g.i
            try:
                return g.op_expr(g.single_val)
            except _Fail:
                g.i = save
                return None
        return g.op_expr(g.single_val)  # no eof check: P.parse stops where the parser does

    return _run_parser(f"failed to parse filter ({value})", value, p)  # type: ignore[no-any-return]


def parse_logic(key_op: str, value: str) -> Cond | Tree:
    """``or=(...)`` (key ``or``, or ``not.or``): the tree, parsed from ``op <> value`` as PostgREST does."""
    return _run_parser(  # type: ignore[no-any-return]
        f"failed to parse logic tree ({value})", key_op + value, lambda g: g.logic_tree()
    )


def parse_tree(kind: str, text: str) -> Tree:
    """``or=(...)`` as a tree (kept for tests that inspect the parse)."""
    tree = parse_logic(kind, text)
    assert isinstance(tree, Tree)
    return tree


def parse_condition(column: str, text: str) -> Cond:
    """``column=text`` as a filter (``eq.value``, ``not.in.(a,b)``), as the grammar reads it."""
    expr = parse_filter(text)
    assert expr is not None
    return Cond(FieldRef(column), expr)


def _parse_list(text: str) -> list[str]:
    """``(a,"b,c",d)`` -> ['a', 'b,c', 'd']: the elements of ``in.(...)``."""
    expr = parse_filter("in." + text)
    assert expr is not None
    return list(expr.value)


@dataclass
class ParsedQuery:
    """QueryParams.hs ``QueryParams``, root level only."""

    select: list[SelectItem]
    filters: list[Cond | Tree] = field(default_factory=list)
    rpc_args: dict[str, str] = field(default_factory=dict)
    order: list[OrderTerm] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    on_conflict: list[str] | None = None
    columns: list[str] | None = None


def _read_integer(value: str) -> int | None:
    # Haskell's readMaybe: surrounding spaces allowed, anything else is Nothing (and then ignored).
    try:
        return int(value.strip())
    except ValueError:
        return None


def parse_query(params: list[tuple[str, str | None]], *, rpc_read: bool = False) -> ParsedQuery:
    """Classify and parse the parameters as QueryParams.hs ``parse`` does."""

    def last_word(key: str) -> str:
        return key.split(".")[-1]

    present = [(k, v) for k, v in params if v is not None]  # ``k`` without ``=`` is dropped

    def lookup(name: str) -> str | None:
        for k, v in params:
            if k == name:
                return v
        return None

    select_text = lookup("select")
    q = ParsedQuery(
        select=_run_parser(
            f"failed to parse select parameter ({select_text or '*'})",
            "*" if select_text is None else select_text,
            lambda g: g.select(),
        )
    )
    on_conflict = lookup("on_conflict")
    if on_conflict is not None:
        q.on_conflict = _run_parser(
            f"failed to parse on_conflict parameter ({on_conflict})", on_conflict, lambda g: g.columns()
        )
    columns = lookup("columns")
    if columns is not None:
        q.columns = _run_parser(
            f"failed to parse columns parameter ({columns})", columns, lambda g: g.columns()
        )
    for key, value in present:
        word = last_word(key)
        path = key.split(".")
        if key in ("select", "columns", "on_conflict"):
            continue
        if word in ("order", "limit", "offset", "and", "or"):
            embedded = [p for p in path[:-1] if p != "not"]
            if embedded:
                raise PgrstError(
                    400, "PGRST108", f"'{embedded[0]}' is not an embedded resource in this request"
                )
            if word == "order":
                q.order += _run_parser(f"failed to parse order ({value})", value, lambda g: g.order())
            elif word == "limit":
                q.limit = _read_integer(value)
            elif word == "offset":
                q.offset = _read_integer(value) or 0
            else:
                op = "not." + word if "not" in path[:-1] else word
                q.filters.append(parse_logic(op, value))
            continue
        field_ref = _run_parser(f"failed to parse tree path ({key})", key, lambda g: _tree_path(g))
        if field_ref[0]:
            raise PgrstError(
                400, "PGRST108", f"'{field_ref[0][0]}' is not an embedded resource in this request"
            )
        expr = parse_filter(value, rpc_read=rpc_read)
        if expr is None:
            q.rpc_args[key] = value
        else:
            q.filters.append(Cond(field_ref[1], expr))
    return q


def _tree_path(g: _Grammar) -> tuple[list[str], FieldRef]:
    """pTreePath: ``embed.embed.field->json``."""
    names = [g.field_name()]
    while g.string("."):
        names.append(g.field_name())
    path = g.json_path()
    return names[:-1], FieldRef(names[-1], path)


#: Preferences.hs ``fromHeaders``: the values each preference accepts (anything else is ignored, as with
#: ``handling=lenient``). ``tx`` needs ``db-tx-end`` to allow it, which Supabase does not.
_PREFERENCES = {
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "return": ("representation", "minimal", "headers-only"),
    "count": ("exact", "planned", "estimated"),
    "missing": ("default", "null"),
    "handling": ("strict", "lenient"),
}
#: Preferences.hs ``prefAppliedHeader``: the order of ``Preference-Applied``.
_APPLIED_ORDER = ("resolution", "missing", "return", "count", "handling", "timezone")


def parse_prefer(headers: httpx.Headers) -> dict[str, str]:
    """Preferences.hs ``fromHeaders``: every ``Prefer`` header split on commas; the first valid value wins."""
    items = [item.strip() for header in headers.get_list("prefer") for item in header.split(",")]
    prefs: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key in prefs:
            continue
        if value in _PREFERENCES.get(key, ()) or key == "timezone":
            prefs[key] = value
    return prefs


def preference_applied(prefs: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    """``Preference-Applied`` for the preferences this kind of request applies (Response.hs)."""
    applied = [f"{k}={prefs[k]}" for k in _APPLIED_ORDER if k in prefs and k in keys]
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


# -- SQL ------------------------------------------------------------------------------------------------


def _field_sql(alias: str, f: FieldRef) -> sql.Composable:
    out: sql.Composable = sql.Identifier(alias, f.name)
    for step in f.path:
        operand: sql.Composable = sql.Literal(step.key) if step.key is not None else sql.Literal(step.index)
        out = sql.SQL("{}{}{}").format(out, sql.SQL(step.arrow), operand)
    return out


def _array_literal(values: list[str]) -> str:
    # SqlFragment.hs pgBuildArrayLiteral: every element quoted and escaped, cut at its first NUL
    # (trimNullChars), so PostgreSQL infers the array's type from the column.
    def one(v: str) -> str:
        v = v.split("\x00", 1)[0]
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(one(v) for v in values) + "}"


_OPS_SQL = {
    "eq": "=",
    "gte": ">=",
    "gt": ">",
    "lte": "<=",
    "lt": "<",
    "like": "like",
    "ilike": "ilike",
    "match": "~",
    "imatch": "~*",
    "neq": "<>",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
_FTS_SQL = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}


def _cond_sql(c: Cond, alias: str, params: list[Any]) -> sql.Composable:
    """SqlFragment.hs ``pgFmtFilter``; values are parameters of unknown type, as PostgREST sends them."""
    col = _field_sql(alias, c.field)
    e = c.expr
    if e.op == "in":
        if e.value == [""]:
            out: sql.Composable = sql.SQL("{} = any('{{}}')").format(col)
        else:
            params.append(_array_literal(e.value))
            out = sql.SQL("{} = any(%s)").format(col)
    elif e.op == "is":
        out = sql.SQL("{} is {}").format(col, sql.SQL(e.value.replace("_", " ")))
    elif e.op == "isdistinct":
        params.append(e.value)
        out = sql.SQL("{} is distinct from %s").format(col)
    elif e.op in _FTS_SQL:
        if e.lang is not None:
            params.extend([e.lang, e.value])
            out = sql.SQL("{} @@ {}(%s, %s)").format(col, sql.SQL(_FTS_SQL[e.op]))
        else:
            params.append(e.value)
            out = sql.SQL("{} @@ {}(%s)").format(col, sql.SQL(_FTS_SQL[e.op]))
    else:
        value = e.value
        if e.op in ("like", "ilike"):
            value = value.replace("*", "%")  # ``*`` stands for ``%`` in a URL
        params.append(value)
        rhs = sql.SQL("%s")
        if e.quant == "any":
            rhs = sql.SQL("any(%s)")
        elif e.quant == "all":
            rhs = sql.SQL("all(%s)")
        out = sql.SQL("{} {} {}").format(col, sql.SQL(_OPS_SQL[e.op]), rhs)
    return sql.SQL("not {}").format(out) if e.negate else out


def _where(items: list[Cond | Tree], alias: str, params: list[Any], joiner: str = "and") -> sql.Composable:
    parts: list[sql.Composable] = []
    for item in items:
        if isinstance(item, Tree):
            inner = sql.SQL("(") + _where(item.items, alias, params, item.kind) + sql.SQL(")")
            parts.append(sql.SQL("not ") + inner if item.negate else inner)
        else:
            parts.append(_cond_sql(item, alias, params))
    if not parts:
        return sql.SQL("true")
    return sql.SQL(f" {joiner} ").join(parts)


def _order_sql(order: list[OrderTerm], alias: str) -> sql.Composable:
    if not order:
        return sql.SQL("")
    terms = []
    for t in order:
        term = _field_sql(alias, t.field)
        if t.descending is not None:
            term = sql.SQL("{} {}").format(term, sql.SQL("desc" if t.descending else "asc"))
        if t.nulls:
            term = sql.SQL("{} {}").format(
                term, sql.SQL("nulls first" if t.nulls == "nullsfirst" else "nulls last")
            )
        terms.append(term)
    return sql.SQL(" order by ") + sql.SQL(", ").join(terms)


def _agg(inner: sql.Composable) -> sql.Composable:
    # Statements.hs mainRead: the statement in a CTE, the body aggregated by PostgreSQL.
    return sql.SQL(
        "with pgrst_source as ({}) select coalesce(json_agg(_postgrest_t), '[]')::text as body, "
        "pg_catalog.count(_postgrest_t) as page_total from pgrst_source _postgrest_t"
    ).format(inner)


# -- ranges (RangeQuery.hs) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A requested row range: ``offset`` and an inclusive ``upper`` (None: unbounded)."""

    offset: int
    upper: int | None

    @property
    def limit(self) -> int | None:
        return None if self.upper is None else max(self.upper - self.offset + 1, 0)


def content_range(lower: int, upper: int, total: int | None) -> str:
    """RangeQuery.hs ``contentRangeH``: ``lower-upper/total``, or ``*/total`` when empty or total is 0."""
    total_text = "*" if total is None else str(total)
    if total != 0 and lower <= upper:
        return f"{lower}-{upper}/{total_text}"
    return f"*/{total_text}"


def range_status(lower: int, n: int, total: int | None) -> int:
    """RangeQuery.hs ``rangeStatusHeader``: 200, 206 for a partial page of a count, 416 past the end."""
    if total is None:
        return 200
    if lower > total:
        return 416
    if n < total:
        return 206
    return 200


# -- faults ---------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of (or after) serving a request."""

    kind: str  # "status" | "drop_after_commit" | "refuse"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    method: str | None = None


class _ThreadedRouter(respx.MockRouter):
    """A respx router that serves an async client's requests in worker threads.

    Without it every async request would run its SQL on the event loop, one at a time, and no race between
    concurrent tasks could show up.
    """

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.to_thread(self.handler, request)


class PostgrestEmulator:
    """PostgREST at ``{BASE_URL}/rest/v1`` over the real database at ``db_url``."""

    def __init__(
        self,
        db_url: str,
        *,
        jwt_secret: str,
        anon_key: str,
        service_key: str,
        max_rows: int | None = DEFAULT_MAX_ROWS,
        pool_size: int = 10,  # Config.hs: db-pool defaults to 10
        acquisition_timeout: float = 10.0,  # Config.hs: db-pool-acquisition-timeout defaults to 10 s
        retry_after: int = 0,
    ) -> None:
        self.db_url = db_url
        self.jwt_secret = jwt_secret
        self.anon_key = anon_key
        self.service_key = service_key
        #: ``db-max-rows``; None for no cap.
        self.max_rows = max_rows
        #: ``Retry-After`` on every 503 (App.hs addRetryHint; 0 while the schema cache reloads).
        self.retry_after = retry_after
        self.pool_size = pool_size
        self.acquisition_timeout = acquisition_timeout
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self._faults_lock = threading.Lock()
        self.faults: deque[Fault] = deque()
        #: Statements run on the database for requests (the no-request tests assert it stays put).
        self.statements = 0
        self._columns: dict[str, list[str]] = {}
        #: Transactions open at once right now, and the most seen (proof that requests overlapped).
        self.in_flight = 0
        self.max_in_flight = 0
        self._flight_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------------------

    @property
    def pool(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                # PostgREST's db-pool: a few connections, each request takes one for its transaction. A dead
                # connection (pg_terminate_backend) is replaced, as hasql-pool does.
                self._pool = psycopg_pool.ConnectionPool(
                    self.db_url,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.acquisition_timeout,
                    kwargs={"autocommit": True, "application_name": APP_NAME},
                    check=psycopg_pool.ConnectionPool.check_connection,
                    open=True,
                )
            return self._pool

    @property
    def backend_pid(self) -> int:
        """No single backend any more (a pool); 0 matches none, and a killed pooled connection is replaced."""
        return 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def mount(self) -> Iterator[respx.MockRouter]:
        """A respx router answering every request to ``BASE_URL`` from this emulator."""
        router = _ThreadedRouter(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True)
        with router:
            router.route().mock(side_effect=self.handle)
            yield router

    # -- scripted faults -------------------------------------------------------------------------------

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
        with self._faults_lock:
            for _ in range(n):
                self.faults.append(Fault("status", status, dict(headers or {}), body, method))

    def rate_limit_next(self, retry_after: str = "1", n: int = 1) -> None:
        """The next ``n`` requests get 429 with ``Retry-After``."""
        body = json.dumps({"message": "Too Many Requests"}).encode()
        self.fail_next(n, status=429, headers={"Retry-After": retry_after}, body=body)

    def drop_after_commit(self, method: str = "POST") -> None:
        """The next ``method`` request runs and COMMITS, then the connection drops before the answer."""
        with self._faults_lock:
            self.faults.append(Fault("drop_after_commit", method=method))

    def refuse_next(self, n: int = 1) -> None:
        """The next ``n`` requests fail to connect (``httpx.ConnectError``), reaching nothing."""
        with self._faults_lock:
            for _ in range(n):
                self.faults.append(Fault("refuse"))

    def _take_fault(self, method: str) -> Fault | None:
        with self._faults_lock:
            for fault in list(self.faults):
                if fault.method is None or fault.method == method:
                    self.faults.remove(fault)
                    return fault
        return None

    # -- the server ------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """respx side effect: one HTTP exchange."""
        response = self._handle(request)
        if response.status_code == 503 and "retry-after" not in response.headers:
            # App.hs addRetryHint: PostgREST adds Retry-After to every 503 it sends.
            response.headers["Retry-After"] = str(self.retry_after)
        return response

    def _handle(self, request: httpx.Request) -> httpx.Response:
        fault = self._take_fault(request.method)
        if fault is not None and fault.kind == "refuse":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if fault is not None and fault.kind == "status":
            if fault.body is not None:
                return _json_response(fault.status, fault.body, fault.headers)
            code, message = {
                503: ("PGRST001", "Database client error. Retrying the connection."),
                504: ("PGRST003", "Timed out acquiring connection from connection pool."),
            }.get(fault.status, (None, "injected failure"))
            body = {"code": code, "details": None, "hint": None, "message": message}
            return _error_response(fault.status, code, body, fault.headers)
        if len(request.url.raw_path) > MAX_URL_BYTES:
            # The gateway, not PostgREST: nginx refuses a request line longer than its header buffer.
            return httpx.Response(
                414,
                content=b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
                b"<center><h1>414 Request-URI Too Large</h1></center>\r\n</body>\r\n</html>\r\n",
                headers={"Content-Type": "text/html"},
            )
        try:
            claims = self._authenticate(request)
            response = self._serve(request, claims)
        except PgrstError as exc:
            return exc.response()
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

        def invalid(message: str) -> PgrstError:
            # Error.hs JwtError: 401 with WWW-Authenticate naming the problem.
            code = "PGRST303" if message == "JWT expired" else "PGRST301"
            return PgrstError(
                401,
                code,
                message,
                headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'},
            )

        if token.count(".") != 2:
            raise invalid(f"Expected 3 parts in JWT; got {token.count('.') + 1}")
        try:
            return dict(
                jwt.decode(token, self.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
            )
        except jwt.ExpiredSignatureError:
            raise invalid("JWT expired") from None
        except jwt.InvalidSignatureError:
            exc = invalid("No suitable key or wrong key type")
            exc.details = "None of the keys was able to decode the JWT"
            raise exc from None
        except jwt.PyJWTError:
            raise invalid("JWT cryptographic operation failed") from None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout:
            # Error.hs: AcquisitionTimeoutUsageError -> 504 PGRST003.
            raise PgrstError(
                504, "PGRST003", "Timed out acquiring connection from connection pool."
            ) from None

    def _table_columns(self, table: str) -> list[str]:
        if table not in self._columns:
            with self._connection() as conn:
                rows = conn.execute(
                    "select a.attname from pg_attribute a where a.attrelid = to_regclass(%s) "
                    "and a.attnum > 0 and not a.attisdropped order by a.attnum",
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
        if "/" in (name[4:] if name.startswith("rpc/") else name):
            raise PgrstError(404, "PGRST125", "Invalid path specified in request URL")
        role = str(claims.get("role") or "anon")
        # App.hs: the database's 42501 is 403 for any role but the anonymous one (401).
        authenticated = role != "anon"
        try:
            params = parse_query_string(request.url.query)
            if name.startswith("rpc/"):
                rpc_read = request.method in ("GET", "HEAD")
                query = parse_query(params, rpc_read=rpc_read)
                return self._rpc(request, name[4:], role, claims, query)
            query = parse_query(params)
            self._table_columns(name)
            return self._table(request, name, role, claims, query)
        except psycopg.Error as exc:
            return self._db_error(exc, authenticated)

    def _db_error(self, exc: psycopg.Error, authenticated: bool) -> httpx.Response:
        code = exc.sqlstate
        diag = exc.diag
        if code is None:
            if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
                # psycopg refuses NUL before sending; the server would answer 22021 (invalid byte sequence).
                code, message = "22021", 'invalid byte sequence for encoding "UTF8": 0x00'
                body = {"code": code, "details": None, "hint": None, "message": message}
                return _error_response(400, code, body, {})
            # A connection that broke under the request: hasql's ClientError, 503 PGRST001.
            body = {
                "code": "PGRST001",
                "details": str(exc),
                "hint": None,
                "message": "Database client error. Retrying the connection.",
            }
            return _error_response(503, "PGRST001", body, {})
        message = diag.message_primary or str(exc)
        if code == "PGRST":
            return self._raised_pgrst(message, diag.message_detail)
        body = {"code": code, "details": diag.message_detail, "hint": diag.message_hint, "message": message}
        status = status_for_sqlstate(code, message, authenticated=authenticated)
        # Error.hs PgError headers: a 401 from the database carries ``WWW-Authenticate: Bearer``.
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return _error_response(status, code, body, headers)

    @contextmanager
    def _flying(self) -> Iterator[None]:
        with self._flight_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._flight_lock:
                self.in_flight -= 1

    @staticmethod
    def _raised_pgrst(message: str, detail: str | None) -> httpx.Response:
        """Error.hs parseRaisePGRST: ``RAISE SQLSTATE 'PGRST'`` with JSON in MESSAGE and DETAIL."""
        try:
            err = json.loads(message)
            det = json.loads(detail) if detail is not None else None
            if not isinstance(err, dict) or "code" not in err or "message" not in err:
                raise ValueError(message)
            if not isinstance(det, dict) or "status" not in det or "headers" not in det:
                raise ValueError(detail)
        except ValueError:
            body = {
                "code": "PGRST121",
                "details": "Invalid JSON value for MESSAGE or DETAIL",
                "hint": None,
                "message": "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            }
            return _error_response(500, "PGRST121", body, {})
        body = {k: err.get(k) for k in ("code", "details", "hint", "message")}
        headers = {str(k): str(v) for k, v in det["headers"].items()}
        return _error_response(int(det["status"]), str(err["code"]), body, headers)

    @contextmanager
    def _transaction(
        self, request: httpx.Request, role: str, claims: dict[str, Any]
    ) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as conn, conn.transaction(), self._flying():
            if request.method in ("GET", "HEAD"):
                # MainTx.hs: reads run in a READ ONLY transaction (a write in a function is 25006 -> 405).
                conn.execute("set transaction read only")
            conn.execute(
                "select set_config('search_path', 'public, extensions', true), "
                "set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
                "set_config('request.method', %s, true), set_config('request.path', %s, true)",
                (role, json.dumps(claims), request.method, request.url.path),
            )
            yield conn

    def _run(self, conn: psycopg.Connection[Any], stmt: sql.Composable, params: list[Any]) -> tuple[Any, ...]:
        self.statements += 1
        row = conn.execute(stmt, params).fetchone()
        assert row is not None
        return tuple(row)

    # -- ranges ----------------------------------------------------------------------------------------

    def _requested_range(self, request: httpx.Request, query: ParsedQuery) -> Range:
        """ApiRequest.hs getRanges: ``limit``/``offset`` intersected with a GET's ``Range`` header."""
        offset = max(query.offset, 0)
        upper: int | None = None
        if query.limit is not None:
            if query.limit < 0:
                raise PgrstError(
                    416,
                    "PGRST103",
                    "Requested range not satisfiable",
                    "Limit should be greater than or equal to zero.",
                )
            upper = offset + query.limit - 1
        header = request.headers.get("range") if request.method == "GET" else None
        if header:
            lo, dash, hi = header.strip().partition("-")
            if dash and lo.isdigit() and (hi == "" or hi.isdigit()):
                if hi and int(hi) < int(lo):
                    raise PgrstError(
                        416,
                        "PGRST103",
                        "Requested range not satisfiable",
                        "The lower boundary must be lower than or equal to the upper boundary in the "
                        "Range header.",
                    )
                offset = max(offset, int(lo))
                if hi:
                    upper = int(hi) if upper is None else min(upper, int(hi))
        return Range(offset, upper)

    def _capped(self, r: Range) -> Range:
        """Plan.hs treeRestrictRange: reads never return more than ``max_rows`` (limit=0 stays 0)."""
        if self.max_rows is None or r.limit == 0:
            return r
        cap = r.offset + self.max_rows - 1
        return Range(r.offset, cap if r.upper is None else min(r.upper, cap))

    # -- tables ----------------------------------------------------------------------------------------

    def _returning(self, table: str, query: ParsedQuery, alias: str) -> sql.Composable:
        items: list[sql.Composable] = []
        for item in query.select:
            if item.field.name == "*":
                items.extend(sql.Identifier(alias, c) for c in self._table_columns(table))
                continue
            expr = _field_sql(alias, item.field)
            if item.cast:
                expr = sql.SQL("{}::{}").format(expr, sql.SQL(item.cast))
            keys = [s.key for s in item.field.path if s.key is not None]
            name = item.alias or (keys[-1] if item.field.path and keys else item.field.name)
            items.append(sql.SQL("{} as {}").format(expr, sql.Identifier(name)))
        return sql.SQL(", ").join(items) if items else sql.SQL("")

    def _table(
        self, request: httpx.Request, table: str, role: str, claims: dict[str, Any], query: ParsedQuery
    ) -> httpx.Response:
        prefer = parse_prefer(request.headers)
        counting = prefer.get("count") in ("exact", "planned", "estimated")
        t = sql.Identifier(SCHEMA, table)
        alias = "pgrst_t"
        params: list[Any] = []
        method = request.method
        if method in ("GET", "HEAD"):
            requested = self._requested_range(request, query)
            r = self._capped(requested)
            with self._transaction(request, role, claims) as conn:
                stmt = sql.SQL("select {} from {} as {} where {}").format(
                    self._returning(table, query, alias),
                    t,
                    sql.Identifier(alias),
                    _where(query.filters, alias, params),
                ) + _order_sql(query.order, alias)
                if r.limit is not None:
                    stmt += sql.SQL(" limit {}").format(sql.Literal(r.limit))
                if r.offset:
                    stmt += sql.SQL(" offset {}").format(sql.Literal(r.offset))
                body, n = self._run(conn, _agg(stmt), params)
                total = None
                if counting:
                    count_params: list[Any] = []
                    (total,) = self._run(
                        conn,
                        sql.SQL("select pg_catalog.count(*) from {} as {} where {}").format(
                            t, sql.Identifier(alias), _where(query.filters, alias, count_params)
                        ),
                        count_params,
                    )
            singular = request.headers.get("accept", "").startswith("application/vnd.pgrst.object+json")
            if singular and n != 1:
                raise PgrstError(
                    406,
                    "PGRST116",
                    "JSON object requested, multiple (or no) rows returned",
                    f"The result contains {n} rows",
                )
            status = range_status(requested.offset, n, total)
            headers = {"Content-Range": content_range(requested.offset, requested.offset + n - 1, total)}
            headers.update(preference_applied(prefer, ("count", "handling", "timezone")))
            if status == 416:
                raise PgrstError(
                    416,
                    "PGRST103",
                    "Requested range not satisfiable",
                    f"An offset of {requested.offset} was requested, but there are only {total} rows.",
                    headers=headers,
                )
            if singular:
                body = json.dumps(json.loads(body)[0])
            return _json_response(status, b"" if method == "HEAD" else body.encode(), headers)
        if method == "POST":
            return self._insert(request, table, role, claims, query, prefer)
        if method == "PATCH":
            payload = self._body(request)
            if isinstance(payload, list):
                payload = payload[0] if payload else {}
            if not isinstance(payload, dict):
                raise PgrstError(400, "PGRST102", "Empty or invalid json")
            self._check_keys(table, payload.keys())
            if not payload:
                # Nothing to set: PostgREST answers as for zero updated rows without touching the table.
                body, n = "[]", 0
            else:
                with self._transaction(request, role, claims) as conn:
                    assignments = sql.SQL(", ").join(
                        sql.SQL("{} = _r.{}").format(sql.Identifier(k), sql.Identifier(k)) for k in payload
                    )
                    params.append(json.dumps(payload))
                    stmt = sql.SQL(
                        "update {} as {} set {} from json_populate_record(null::{}, %s::json) as _r "
                        "where {} returning {}"
                    ).format(
                        t,
                        sql.Identifier(alias),
                        assignments,
                        t,
                        _where(query.filters, alias, params),
                        self._returning(table, query, alias),
                    )
                    body, n = self._run(conn, _agg(stmt), params)
            # Response.hs MutationUpdate: Content-Range ``0-(n-1)/*`` (``*/*`` when nothing changed).
            headers = {"Content-Range": content_range(0, n - 1, n if counting else None)}
            headers.update(preference_applied(prefer, ("missing", "return", "count", "handling", "timezone")))
            if prefer.get("return") == "representation":
                return _json_response(200, body.encode(), headers)
            return httpx.Response(204, headers=headers)
        if method == "DELETE":
            with self._transaction(request, role, claims) as conn:
                stmt = sql.SQL("delete from {} as {} where {} returning {}").format(
                    t,
                    sql.Identifier(alias),
                    _where(query.filters, alias, params),
                    self._returning(table, query, alias),
                )
                body, n = self._run(conn, _agg(stmt), params)
            # Response.hs MutationDelete: contentRangeH 1 0 -> always ``*/*`` (``*/n`` with a count).
            headers = {"Content-Range": content_range(1, 0, n if counting else None)}
            headers.update(preference_applied(prefer, ("return", "count", "handling", "timezone")))
            if prefer.get("return") == "representation":
                return _json_response(200, body.encode(), headers)
            return httpx.Response(204, headers=headers)
        raise PgrstError(405, "PGRST117", f"Unsupported HTTP method: {method}")

    @staticmethod
    def _body(request: httpx.Request) -> Any:
        try:
            return json.loads(request.content) if request.content.strip() else {}
        except ValueError:
            raise PgrstError(400, "PGRST102", "Empty or invalid json") from None

    def _primary_key(self, table: str) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
                "and a.attnum = any(i.indkey) where i.indrelid = to_regclass(%s) and i.indisprimary "
                "order by array_position(i.indkey, a.attnum)",
                (f"{SCHEMA}.{table}",),
            ).fetchall()
        return [r[0] for r in rows]

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
        table: str,
        role: str,
        claims: dict[str, Any],
        query: ParsedQuery,
        prefer: dict[str, str],
    ) -> httpx.Response:
        payload = self._body(request)
        rows = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(r, dict) for r in rows):
            raise PgrstError(400, "PGRST102", "Empty or invalid json")
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
        # Plan.hs: without on_conflict, a resolution applies to the primary key (none: no resolution).
        conflict_columns = query.on_conflict or self._primary_key(table)
        if "resolution" in prefer and conflict_columns:
            target = sql.SQL(", ").join(sql.Identifier(c) for c in conflict_columns)
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
        # missing=default: a key a row leaves out gets its column default, as an INSERT naming only the given
        # columns would (otherwise NULL). Consecutive rows with the same keys go in one statement; all of them
        # in one transaction, so a bad row rolls the whole request back, as PostgREST's single statement does.
        groups: list[tuple[list[str], list[dict[str, Any]]]] = []
        for row in rows:
            cols = [c for c in columns if c in row] if prefer.get("missing") == "default" else columns
            if groups and groups[-1][0] == cols:
                groups[-1][1].append(row)
            else:
                groups.append((cols, [row]))
        out: list[Any] = []
        with self._transaction(request, role, claims) as conn:
            for cols, group in groups:
                returning = self._returning(table, query, alias)
                if cols:
                    stmt = sql.SQL(
                        "insert into {} as {} ({}) select {} from json_populate_recordset(null::{}, %s::json)"
                        "{} returning {}"
                    ).format(
                        t,
                        sql.Identifier(alias),
                        sql.SQL(", ").join(map(sql.Identifier, cols)),
                        sql.SQL(", ").join(map(sql.Identifier, cols)),
                        t,
                        conflict,
                        returning,
                    )
                    body, _ = self._run(
                        conn, _agg(stmt), [json.dumps([{c: r.get(c) for c in cols} for r in group])]
                    )
                    out.extend(json.loads(body))
                else:
                    for _ in group:
                        stmt = sql.SQL("insert into {} as {} default values{} returning {}").format(
                            t, sql.Identifier(alias), conflict, returning
                        )
                        body, _ = self._run(conn, _agg(stmt), [])
                        out.extend(json.loads(body))
        # Response.hs MutationCreate: 201 and ``Content-Range: */*`` (``*/n`` with a count).
        counting = prefer.get("count") in ("exact", "planned", "estimated")
        headers = {"Content-Range": content_range(1, 0, len(out) if counting else None)}
        applies = ("missing", "return", "count", "handling", "timezone")
        headers.update(preference_applied(prefer, ("resolution", *applies) if conflict_columns else applies))
        if prefer.get("return") == "representation":
            return _json_response(201, json.dumps(out).encode(), headers)
        return httpx.Response(201, headers=headers)

    # -- functions -------------------------------------------------------------------------------------

    def _rpc(
        self, request: httpx.Request, fn: str, role: str, claims: dict[str, Any], query: ParsedQuery
    ) -> httpx.Response:
        if request.method == "POST":
            args = self._body(request)
            if not isinstance(args, dict):
                raise PgrstError(400, "PGRST102", "Empty or invalid json")
        elif request.method in ("GET", "HEAD"):
            args = dict(query.rpc_args)
        else:
            raise PgrstError(405, "PGRST101", "Only GET, HEAD or POST are allowed for functions")
        with self._connection() as conn:
            candidates = conn.execute(
                """
                select p.proretset, p.prorettype = 'void'::regtype,
                       (select t.typtype = 'c' from pg_type t where t.oid = p.prorettype),
                       p.pronargdefaults, coalesce(p.proargnames, '{}'),
                       coalesce(p.proargmodes::text[], '{}'),
                       array(select format_type(t, null) from unnest(
                                 coalesce(p.proallargtypes, p.proargtypes::oid[]))
                             with ordinality as u(t, n) order by n),
                       p.provolatile
                from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                where n.nspname = %s and p.proname = %s
                """,
                (SCHEMA, fn),
            ).fetchall()
        matches = []
        for retset, is_void, composite, ndefaults, names, modes, types, volatile in candidates:
            inputs = [
                (nm, tp)
                for i, (nm, tp) in enumerate(zip(names, types, strict=False))
                if (modes[i] if modes else "i") in ("i", "b", "v")
            ]
            required = {nm for nm, _ in inputs[: len(inputs) - ndefaults]}
            # Plan.hs findProc: every required parameter given, every given key a parameter.
            if set(args) <= {nm for nm, _ in inputs} and required <= set(args):
                matches.append(
                    (
                        retset,
                        is_void,
                        composite,
                        [(nm, tp) for nm, tp in inputs if nm in args],
                        volatile,
                        inputs,
                    )
                )
        keys = ", ".join(sorted(args))
        if not matches:
            raise PgrstError(
                404,
                "PGRST202",
                f"Could not find the function {SCHEMA}.{fn}({keys}) in the schema cache"
                if args
                else f"Could not find the function {SCHEMA}.{fn} without parameters in the schema cache",
                f"Searched for the function {SCHEMA}.{fn} with parameters {keys} or with a single unnamed "
                "json/jsonb parameter, but no matches were found in the schema cache.",
            )
        if len(matches) > 1:
            # Error.hs AmbiguousRpc: 300 PGRST203.
            described = ", ".join(
                f"{SCHEMA}.{fn}(" + ", ".join(f"{nm} => {tp}" for nm, tp in m[5]) + ")" for m in matches
            )
            raise PgrstError(
                300,
                "PGRST203",
                f"Could not choose the best candidate function between: {described}",
                hint="Try renaming the parameters or the function itself in the database so function "
                "overloading can be resolved",
            )
        retset, is_void, composite, inputs, _volatile, _ = matches[0]
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
                requested = self._requested_range(request, query)
                r = self._capped(requested)  # max-rows applies to a function's rows too (Plan.hs)
                alias = "pgrst_t"
                if composite:
                    inner = sql.SQL("select {}.* from {}, lateral {} as {}").format(
                        sql.Identifier(alias), source, call, sql.Identifier(alias)
                    )
                else:
                    inner = sql.SQL("select {} as pgrst_scalar from {}, lateral {} as {}").format(
                        sql.Identifier(alias), source, call, sql.Identifier(alias)
                    )
                stmt = sql.SQL("select * from ({}) as {} where {}").format(
                    inner, sql.Identifier(alias), _where(query.filters, alias, params)
                ) + _order_sql(query.order, alias)
                if r.limit is not None:
                    stmt += sql.SQL(" limit {}").format(sql.Literal(r.limit))
                if r.offset:
                    stmt += sql.SQL(" offset {}").format(sql.Literal(r.offset))
                if composite:
                    body, n = self._run(conn, _agg(stmt), params)
                else:
                    body, n = self._run(
                        conn,
                        sql.SQL(
                            "with pgrst_source as ({}) select "
                            "coalesce(json_agg(s.pgrst_scalar), '[]')::text, count(*) from pgrst_source s"
                        ).format(stmt),
                        params,
                    )
                headers = {"Content-Range": content_range(requested.offset, requested.offset + n - 1, None)}
                return _json_response(200, body.encode(), headers)
            stmt = sql.SQL("select to_json({})::text from {}").format(call, source)
            (body,) = self._run(conn, stmt, params)
        # Response.hs: a function returning one value counts one row (``0-0/*``); a void one answers 204.
        headers = {"Content-Range": "0-0/*"}
        if is_void:
            return httpx.Response(204, headers=headers)
        return _json_response(200, b"null" if body is None else body.encode(), headers)
