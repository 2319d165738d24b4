"""Checking a migrated schema: what the SDK needs is there (tables with RLS and policies, pgvector in
``extensions``, ``semantic_search``, pinned search paths); every check is reported, passing or not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

#: The tables the Phase 3 schema must create, each with RLS enabled and at least one policy.
EXPECTED_TABLES: tuple[str, ...] = (
    "conversations",
    "custom_tools",
    "custom_tool_usage",
    "composite_skills",
    "composite_skill_executions",
    "memory_synthesis_jobs",
    "memory_patterns",
    "synthesis_recommendations",
    "memory_search_cells",
    "memory_search_indexes",
    "memory_search_large_users",
)


@dataclass(frozen=True, slots=True)
class Check:
    """One result of :func:`verify`: what was checked, whether it holds, and what was found."""

    name: str
    ok: bool
    detail: str = ""


def verify(url: str, tables: Iterable[str] = EXPECTED_TABLES) -> list[Check]:
    """Check that the migrated schema is what the SDK needs; every check is reported, passing or not.

    Tables exist with RLS enabled and at least one policy; the vector extension is installed (and
    where); ``public.semantic_search`` resolves with ``extensions.vector``; every function in ``public``
    pins its ``search_path`` (so callers' search paths cannot hijack it, and Supabase's linter is quiet).
    """
    checks: list[Check] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # An empty search_path makes regprocedure print every name schema-qualified, and proves the
        # lookups below do not depend on the caller's path.
        conn.execute("SET search_path TO ''")
        for table in tables:
            row = conn.execute(
                """
                SELECT c.relrowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind IN ('r', 'p')
                """,
                (table,),
            ).fetchone()
            if row is None:
                checks.append(Check(f"table public.{table}", ok=False, detail="missing"))
                continue
            rls, policies = bool(row[0]), int(str(row[1]))
            checks.append(
                Check(
                    f"table public.{table}",
                    rls and policies > 0,
                    f"rls {'on' if rls else 'OFF'}, {policies} polic{'y' if policies == 1 else 'ies'}",
                )
            )
        ext = conn.execute(
            """
            SELECT n.nspname, e.extversion FROM pg_extension e
            JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'
            """
        ).fetchone()
        if ext is None:
            checks.append(Check("extension vector", ok=False, detail="not installed"))
        else:
            checks.append(
                Check(
                    "extension vector",
                    ext[0] == "extensions",
                    f"version {ext[1]} in schema {ext[0]}"
                    + ("" if ext[0] == "extensions" else " (Supabase keeps it in extensions)"),
                )
            )
        checks.append(_check_semantic_search(conn))
        unpinned = [
            str(r[0])
            for r in conn.execute(
                """
                SELECT p.oid::regprocedure::text FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
                WHERE n.nspname = 'public' AND d.objid IS NULL
                  AND NOT coalesce(
                    EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%'), false)
                ORDER BY 1
                """
            ).fetchall()
        ]
        checks.append(
            Check(
                "functions in public pin search_path",
                not unpinned,
                "all pinned" if not unpinned else "not pinned: " + ", ".join(unpinned),
            )
        )
    return checks


def _check_semantic_search(conn: psycopg.Connection[tuple[object, ...]]) -> Check:
    """``public.semantic_search`` exists and takes an ``extensions.vector``, and its signature resolves.

    The exact parameter list belongs to the migrations, so it is read from the catalog, then looked up
    again by its text with ``to_regprocedure``: the round trip proves that callers naming
    ``extensions.vector`` (as PostgREST and the SDK do) find it whatever their search_path.
    """
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text,
               to_regtype('extensions.vector') = ANY (p.proargtypes::oid[])
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname = 'semantic_search'
        """
    ).fetchall()
    if not rows:
        return Check("function public.semantic_search", ok=False, detail="missing")
    with_vector = [str(sig) for sig, takes_vector in rows if takes_vector]
    if not with_vector:
        return Check(
            "function public.semantic_search",
            ok=False,
            detail="no overload takes extensions.vector: " + str(rows[0][0]),
        )
    signature = with_vector[0]
    found = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", (signature,)).fetchone()
    ok = bool(found and found[0])
    return Check("function public.semantic_search", ok, signature if ok else f"{signature} does not resolve")
