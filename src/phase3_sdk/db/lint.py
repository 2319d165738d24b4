"""``phase3 db lint``: what Supabase's database linter would warn about, checked before a push.

The rules follow the facts behind Supabase's linter (splinter's ``lints/*.sql``); the queries are ours.
Each finding names one object, what is wrong with it and the fix, on one line:

``rls_disabled``
    A table in an API schema that ``anon`` or ``authenticated`` may use, without row level security:
    every row is readable (or writable) through ``/rest/v1``.
``multiple_permissive_policies``
    Two permissive policies for the same role and action: Postgres evaluates both on every row.
``auth_rls_initplan``
    A policy calling ``auth.uid()`` (``auth.jwt()``, ``auth.role()``, ``auth.email()``,
    ``current_setting()``) bare, so it runs once per row instead of once per statement.
``security_definer_executable``
    A SECURITY DEFINER function in an API schema that ``anon`` or ``authenticated`` may execute:
    ``/rest/v1/rpc/<name>`` runs it with its owner's rights, past RLS. Functions meant to be called
    that way are named in ``allow_definer``.
``function_search_path_mutable``
    A function without a fixed ``search_path``: the caller's path decides what its names mean.
``unindexed_foreign_key``
    A foreign key without an index starting with its columns: deleting or updating a referenced row
    scans the whole referencing table (and RLS-filtered joins on it do too).
``extension_in_public``
    An extension installed in ``public``, where its objects join the API schema.
``security_definer_view``
    A view in an API schema that runs with its owner's rights (no ``security_invoker``), past RLS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import psycopg

__all__ = ["API_ROLES", "RULES", "Finding", "lint"]

#: The roles PostgREST switches to for a request with the anon key or a user's token.
API_ROLES: tuple[str, ...] = ("anon", "authenticated")

RULES: tuple[str, ...] = (
    "rls_disabled",
    "multiple_permissive_policies",
    "auth_rls_initplan",
    "security_definer_executable",
    "function_search_path_mutable",
    "unindexed_foreign_key",
    "extension_in_public",
    "security_definer_view",
)

# Schemas that PostgreSQL or Supabase's own services own: nothing a project's migrations should be held to.
_MANAGED_SCHEMAS: tuple[str, ...] = (
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "auth",
    "storage",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "supabase_functions",
    "supabase_migrations",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "net",
    "cron",
    "pgbouncer",
    "pgtle",
    "pgmq",
    "repack",
    "topology",
    "tiger",
)

# Calls that a policy should make once per statement, wrapped as `(select ...)`.
_PER_ROW_CALL = re.compile(
    r"(?<![\w.])(?P<call>auth\.(?:uid|jwt|role|email)\(\)|(?:pg_catalog\.)?current_setting\()"
)
_WRAPPED = re.compile(r"select\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: the rule it breaks, the object, what is wrong and how to fix it."""

    rule: str
    object: str
    problem: str
    fix: str

    def line(self) -> str:
        """The finding as one line: ``rule: object: problem; fix: ...``."""
        return f"{self.rule}: {self.object}: {self.problem}; fix: {self.fix}"

    def __str__(self) -> str:
        return self.line()


Conn = psycopg.Connection[tuple[object, ...]]


def lint(
    url: str,
    *,
    api_schemas: Sequence[str] = ("public",),
    allow_definer: Iterable[str] = (),
) -> list[Finding]:
    """Return every finding on the database at ``url``, ordered by rule then object.

    ``api_schemas``: the schemas PostgREST exposes (Supabase's default is ``public``). ``allow_definer``:
    SECURITY DEFINER functions that API roles are meant to call, as ``schema.name`` (every overload) or
    ``schema.name(argument types)``. Reads the catalog only; objects that belong to an extension, and
    the schemas Supabase's services own, are not judged.
    """
    allowed = {_normalise(name) for name in allow_definer}
    with psycopg.connect(url, autocommit=True) as conn:
        # Every name below prints schema-qualified, and nothing depends on the caller's path.
        conn.execute("set search_path to ''")
        roles = [
            str(r[0])
            for r in conn.execute(
                "select rolname from pg_catalog.pg_roles where rolname = any(%s)", (list(API_ROLES),)
            ).fetchall()
        ]
        params = {"api": list(api_schemas), "managed": list(_MANAGED_SCHEMAS), "roles": roles}
        findings = [
            *_rls_disabled(conn, params),
            *_multiple_permissive(conn, params),
            *_auth_initplan(conn, params),
            *_definer_functions(conn, params, allowed),
            *_search_path(conn, params),
            *_unindexed_foreign_keys(conn, params),
            *_extensions_in_public(conn),
            *_definer_views(conn, params),
        ]
    return sorted(findings, key=lambda f: (RULES.index(f.rule), f.object, f.problem))


def _normalise(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def _rls_disabled(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select c.oid::pg_catalog.regclass::text,
               array(select r from pg_catalog.unnest(%(roles)s::text[]) r
                     where pg_catalog.has_table_privilege(r, c.oid, 'select, insert, update, delete'))
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and not c.relrowsecurity and n.nspname = any(%(api)s)
          and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
        """,
        params,
    ).fetchall()
    return [
        Finding(
            "rls_disabled",
            f"table {table}",
            f"row level security is off and {', '.join(roles)} may use it through the API",  # type: ignore[arg-type]
            f"alter table {table} enable row level security; then add a policy per role and action "
            f"(or revoke all on {table} from {', '.join(roles)})",  # type: ignore[arg-type]
        )
        for table, roles in rows
        if roles
    ]


def _multiple_permissive(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select c.oid::pg_catalog.regclass::text, p.polname, p.polcmd::text,
               array(select r.rolname::text from pg_catalog.pg_roles r
                     where r.oid = any(p.polroles) and not r.rolsuper and not r.rolbypassrls),
               p.polroles = '{0}'::oid[]
        from pg_catalog.pg_policy p
        join pg_catalog.pg_class c on c.oid = p.polrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where p.polpermissive and c.relkind in ('r', 'p') and n.nspname <> all(%(managed)s)
        order by 1, 2
        """,
        params,
    ).fetchall()
    actions = {"r": ("select",), "a": ("insert",), "w": ("update",), "d": ("delete",)}
    # A policy `to public` applies to every role; it is judged for the API roles and for every role another
    # policy on the table names (the roles that will actually query it), not for each of a server's roles.
    api_roles = set(cast("list[str]", params["roles"]))
    named: dict[str, set[str]] = {}
    for table, _, _, roles, _ in rows:
        named.setdefault(str(table), set()).update(cast("list[str]", roles))
    applying: dict[tuple[str, str, str], list[str]] = {}
    for table, policy, cmd, roles, to_public in rows:
        who = named[str(table)] | api_roles if to_public else set(cast("list[str]", roles))
        for role in who:
            for action in actions.get(str(cmd), ("select", "insert", "update", "delete")):
                applying.setdefault((str(table), role, action), []).append(str(policy))
    return [
        Finding(
            "multiple_permissive_policies",
            f"table {table}",
            f"{len(names)} permissive policies for role {role} on {action}: {', '.join(sorted(names))}",
            f"merge them into one policy `for {action} to {role}` whose condition ORs theirs "
            "(Postgres evaluates every permissive policy on every row), or make the extra ones restrictive",
        )
        for (table, role, action), names in sorted(applying.items())
        if len(names) > 1
    ]


def _auth_initplan(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select c.oid::pg_catalog.regclass::text, p.polname,
               pg_catalog.pg_get_expr(p.polqual, p.polrelid),
               pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
        from pg_catalog.pg_policy p
        join pg_catalog.pg_class c on c.oid = p.polrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.relrowsecurity and n.nspname <> all(%(managed)s)
        """,
        params,
    ).fetchall()
    findings: list[Finding] = []
    for table, policy, using, check in rows:
        bare: list[str] = []
        for expression in (using, check):
            if expression is None:
                continue
            text = str(expression)
            for match in _PER_ROW_CALL.finditer(text):
                if not _WRAPPED.search(text[: match.start()]):
                    call = match.group("call").removeprefix("pg_catalog.")
                    call = call if call.endswith("()") else call + "...)"
                    if call not in bare:
                        bare.append(call)
        if bare:
            findings.append(
                Finding(
                    "auth_rls_initplan",
                    f"policy {policy} on {table}",
                    f"calls {', '.join(bare)} once per row",
                    "wrap each call in a subquery, e.g. `(select auth.uid()) = user_id`, so it runs once "
                    "per statement",
                )
            )
    return findings


def _definer_functions(conn: Conn, params: Mapping[str, object], allowed: set[str]) -> list[Finding]:
    # An allowed entry with arguments is resolved by the server, so `timestamptz` and `timestamp with time
    # zone` (or any other spelling of the same signature) name the same function.
    with_args = sorted(a for a in allowed if "(" in a)
    allowed_oids = {
        int(str(row[0]))
        for row in conn.execute(
            "select pg_catalog.to_regprocedure(a)::oid from pg_catalog.unnest(%s::text[]) a"
            " where pg_catalog.to_regprocedure(a) is not null",
            (with_args,),
        ).fetchall()
    }
    rows = conn.execute(
        """
        select p.oid, p.oid::pg_catalog.regprocedure::text, n.nspname || '.' || p.proname,
               array(select r from pg_catalog.unnest(%(roles)s::text[]) r
                     where pg_catalog.has_function_privilege(r, p.oid, 'execute'))
        from pg_catalog.pg_proc p
        join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname = any(%(api)s)
          and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
        """,
        params,
    ).fetchall()
    findings: list[Finding] = []
    for oid, signature, name, roles in rows:
        if not roles or _normalise(str(name)) in allowed or int(str(oid)) in allowed_oids:
            continue
        who = ", ".join(roles)  # type: ignore[arg-type]
        findings.append(
            Finding(
                "security_definer_executable",
                f"function {signature}",
                f"security definer and executable by {who} through /rest/v1/rpc/{str(name).split('.')[-1]}",
                f"revoke execute on function {signature} from public, {who} (PUBLIC has it by default, and "
                "Supabase's default privileges grant it to the API roles), or make it security invoker; if "
                f"users are meant to call it, allow it: --allow-definer {name}",
            )
        )
    return findings


def _search_path(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select p.oid::pg_catalog.regprocedure::text
        from pg_catalog.pg_proc p
        join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname <> all(%(managed)s) and n.nspname !~ '^pg_(temp|toast)'
          and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
          and not exists (
            select 1 from pg_catalog.unnest(p.proconfig) s where s like 'search\\_path=%%')
        """,
        params,
    ).fetchall()
    return [
        Finding(
            "function_search_path_mutable",
            f"function {signature}",
            "no fixed search_path: the caller's path decides what its unqualified names mean",
            f"add `set search_path = ''` to {signature} and schema-qualify the names it uses",
        )
        for (signature,) in rows
    ]


def _unindexed_foreign_keys(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select c.oid::pg_catalog.regclass::text, k.conname,
               array(select pg_catalog.quote_ident(a.attname)
                     from pg_catalog.unnest(k.conkey) with ordinality u(attnum, i)
                     join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum
                     order by u.i)
        from pg_catalog.pg_constraint k
        join pg_catalog.pg_class c on c.oid = k.conrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where k.contype = 'f' and n.nspname <> all(%(managed)s)
          and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
          -- An index serves the key when its first columns are the key's, in any order (all are equalities).
          and not exists (
            select 1 from pg_catalog.pg_index x
            where x.indrelid = k.conrelid and x.indisvalid and x.indpred is null
              and (select pg_catalog.array_agg(col order by col)
                   from pg_catalog.unnest((x.indkey::int2[])[0:pg_catalog.cardinality(k.conkey) - 1]) col)
                = (select pg_catalog.array_agg(col order by col) from pg_catalog.unnest(k.conkey) col))
        """,
        params,
    ).fetchall()
    return [
        Finding(
            "unindexed_foreign_key",
            f"foreign key {name} on {table}",
            f"no index starts with ({', '.join(columns)}): deleting or changing a referenced row scans "  # type: ignore[arg-type]
            "the whole table",
            f"create index on {table} ({', '.join(columns)})",  # type: ignore[arg-type]
        )
        for table, name, columns in rows
    ]


def _extensions_in_public(conn: Conn) -> list[Finding]:
    rows = conn.execute(
        """
        select e.extname, e.extrelocatable from pg_catalog.pg_extension e
        join pg_catalog.pg_namespace n on n.oid = e.extnamespace
        where n.nspname = 'public' and e.extname <> 'plpgsql'
        """
    ).fetchall()
    return [
        Finding(
            "extension_in_public",
            f"extension {name}",
            "installed in public, so its functions and types join the API schema",
            f"alter extension {name} set schema extensions"
            if relocatable
            else f"drop extension {name}, then create extension {name} with schema extensions",
        )
        for name, relocatable in rows
    ]


def _definer_views(conn: Conn, params: Mapping[str, object]) -> list[Finding]:
    rows = conn.execute(
        """
        select c.oid::pg_catalog.regclass::text,
               array(select r from pg_catalog.unnest(%(roles)s::text[]) r
                     where pg_catalog.has_table_privilege(r, c.oid, 'select'))
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'v' and n.nspname = any(%(api)s)
          and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
          and not coalesce(
            (select pg_catalog.lower(split_part(o, '=', 2)) in ('true', 'on', '1', 'yes')
             from pg_catalog.unnest(c.reloptions) o where o like 'security\\_invoker=%%'), false)
        """,
        params,
    ).fetchall()
    return [
        Finding(
            "security_definer_view",
            f"view {view}",
            f"runs with its owner's rights, past RLS, and {', '.join(roles)} may read it",  # type: ignore[arg-type]
            f"alter view {view} set (security_invoker = on)",
        )
        for view, roles in rows
        if roles
    ]
