"""How to fix the errors migrations really hit: a hint per SQLSTATE and message pattern."""

from __future__ import annotations

import re

#: (SQLSTATE, regex over the server's message, hint): how to fix the errors migrations really hit.
#: The first matching row wins, so specific patterns come before a code's catch-all.
HINTS: tuple[tuple[str, str, str], ...] = (
    (
        "42704",
        r'type "?(extensions\.)?vector"? does not exist',
        "create the extension first with `create extension if not exists vector with schema extensions` "
        "and write the type as `extensions.vector(768)`; a function's `set search_path` does not cover "
        "its signature",
    ),
    (
        "42704",
        r"type .* does not exist",
        "create the type (or its extension) in an earlier statement and schema-qualify it",
    ),
    (
        "42601",
        r'syntax error at or near "(not|exists)"',
        "PostgreSQL has no CREATE POLICY/TRIGGER IF NOT EXISTS: use DROP POLICY IF EXISTS (or DROP "
        "TRIGGER IF EXISTS) then CREATE",
    ),
    (
        "42883",
        r"operator does not exist: .*vector",
        "pgvector's operators live in the extensions schema: write `a operator(extensions.<=>) b` (or "
        "add `extensions` to the function's `set search_path`)",
    ),
    (
        "42883",
        r"function .*vector.* does not exist|function (extensions\.)?(cosine_distance|l2_distance|"
        r"inner_product)",
        "pgvector's functions live in the extensions schema: call them as `extensions.<name>(...)`",
    ),
    (
        "42883",
        r"function auth\.",
        "auth.uid()/auth.role()/auth.jwt() come from Supabase; on plain PostgreSQL apply the shim first "
        "(phase3 dev up does)",
    ),
    (
        "42883",
        r"function .* does not exist",
        "create the function in an earlier migration, schema-qualify the call, or cast the arguments to "
        "the declared types",
    ),
    ("42P07", r".", "make it re-runnable: CREATE ... IF NOT EXISTS, or DROP ... IF EXISTS first"),
    (
        "42710",
        r'extension "[^"]+" already exists',
        "write `create extension if not exists ... with schema extensions`: a project may have enabled it "
        "already (from the dashboard; `db check` pre-creates the extensions Supabase pre-approves), and "
        "every migration must be re-runnable",
    ),
    ("42710", r".", "make it re-runnable: DROP ... IF EXISTS before CREATE (policies, triggers, roles)"),
    ("42723", r".", "use CREATE OR REPLACE FUNCTION, or DROP FUNCTION IF EXISTS first"),
    (
        "42P13",
        r"cannot change return type|cannot change name of input parameter",
        "CREATE OR REPLACE cannot change a function's return type or parameter names: DROP FUNCTION IF "
        "EXISTS first",
    ),
    (
        "3F000",
        r'schema "extensions" does not exist',
        "create it first: `create schema if not exists extensions`",
    ),
    ("3F000", r".", "create the schema in an earlier statement (CREATE SCHEMA IF NOT EXISTS)"),
    (
        "42P01",
        r'relation "auth\.',
        "auth.* is Supabase's; on plain PostgreSQL apply the shim first (phase3 dev up does)",
    ),
    ("42P01", r".", "create the table in an earlier migration, or check the migrations' version order"),
    ("42703", r".", "the column does not exist at this point: check the order of the migrations"),
    (
        "0A000",
        r"extension",
        "the extension is not available on this server; on Supabase enable it in the extensions schema",
    ),
    (
        "42501",
        r"event trigger|permission denied to (alter|create|drop) role|permission denied to create extension|"
        r"superuser|alter system|permission denied to set parameter",
        "Supabase's `postgres` role, which runs migrations, is not a superuser: leave this out of the "
        "migration (extensions: enable them in the dashboard or `create extension ... with schema "
        "extensions` for one Supabase offers; settings: the dashboard or `alter database ... set`)",
    ),
    (
        "42501",
        r".",
        "migrations run as the `postgres` role on Supabase; do not touch objects it does not own",
    ),
    (
        "25001",
        r".",
        "this statement cannot run inside a transaction (e.g. CREATE INDEX CONCURRENTLY); migrations "
        "always do",
    ),
)


def hint_for(code: str | None, message: str) -> str | None:
    """Return how to fix an error with this SQLSTATE and message, or None when nothing specific is known."""
    for hint_code, pattern, hint in HINTS:
        if code == hint_code and re.search(pattern, message, re.IGNORECASE):
            return hint
    return None
