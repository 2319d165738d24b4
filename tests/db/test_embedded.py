from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim, default_migrations_dir
from phase3_sdk.errors import ConfigurationError


def test_shim_is_idempotent_and_keeps_extensions_off_the_search_path(shim_db_url: str) -> None:
    apply_shim(shim_db_url)  # a second time changes nothing and does not fail
    with psycopg.connect(shim_db_url) as conn:
        assert conn.execute("show search_path").fetchone() == ('"$user", public',)
        roles = conn.execute(
            "select rolname, rolcanlogin, rolbypassrls from pg_roles "
            "where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by 1"
        ).fetchall()
        assert roles == [
            ("anon", False, False),
            ("authenticated", False, False),
            ("authenticator", True, False),
            ("service_role", False, True),
        ]
        assert conn.execute(
            "select extnamespace::regnamespace::text from pg_extension where extname = 'vector'"
        ).fetchone() == ("extensions",)
        columns = conn.execute(
            "select array_agg(column_name::text order by column_name) from information_schema.columns "
            "where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'"
        ).fetchone()
        assert columns == (["name", "statements", "version"],)


def test_auth_functions_read_the_jwt_claims_like_supabase(shim_db_url: str) -> None:
    sub = str(uuid.uuid4())
    with psycopg.connect(shim_db_url) as conn:
        assert conn.execute("select auth.uid(), auth.role(), auth.jwt()").fetchone() == (None, None, None)
        claims = json.dumps({"sub": sub, "role": "authenticated", "email": "a@b.c"})
        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        conn.execute("set local role authenticated")
        row = conn.execute(
            "select auth.uid()::text, auth.role(), auth.email(), auth.jwt() ->> 'sub'"
        ).fetchone()
        assert row == (sub, "authenticated", "a@b.c", sub)


def test_default_privileges_grant_new_public_tables_to_api_roles(shim_db_url: str) -> None:
    with psycopg.connect(shim_db_url, autocommit=True) as conn:
        conn.execute("create table public.granted (id int)")
        row = conn.execute(
            "select bool_and(has_table_privilege(r, 'public.granted', 'select,insert,update,delete')) "
            "from unnest(array['anon', 'authenticated', 'service_role']) r"
        ).fetchone()
    assert row == (True,)


def test_make_user_gives_unique_users(make_user: object, db_url: str) -> None:
    assert callable(make_user)
    a, b = make_user(), make_user(password="s3cret")
    assert isinstance(a, uuid.UUID)
    assert a != b
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("select encrypted_password from auth.users where id = %s", (b,)).fetchone()
    assert stored is not None
    assert stored[0].startswith("scrypt$")
    assert "s3cret" not in stored[0]


def test_create_and_drop_database_from_template(embedded_server: EmbeddedDatabase) -> None:
    url = embedded_server.create_database("clone_test", template="phase3_template")
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regprocedure('auth.uid()') is not null").fetchone() == (True,)
    embedded_server.drop_database("clone_test")
    with pytest.raises(ConfigurationError):
        embedded_server.create_database("Bad-Name")


def test_temporary_server_starts_sets_up_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "20240101000000_t.sql").write_text("create table public.t (id int);")
    db = EmbeddedDatabase()
    with db:
        assert [m.name for m in db.setup(tmp_path)] == ["t"]
        user = db.create_user("someone@example.test")
        with psycopg.connect(db.url) as conn:
            assert conn.execute("select email from auth.users where id = %s", (user,)).fetchone() == (
                "someone@example.test",
            )
        root = db.pgdata.parent
    assert not db.running
    assert not root.exists()


def test_default_migrations_dir_walks_up(tmp_path: Path) -> None:
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert default_migrations_dir(deep) == tmp_path / "supabase" / "migrations"


def test_repr_has_no_secrets_and_says_state() -> None:
    assert "stopped" in repr(EmbeddedDatabase())
