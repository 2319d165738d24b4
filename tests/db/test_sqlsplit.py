from __future__ import annotations

import pytest

from phase3_sdk.db.sqlsplit import line_at, split_sql


def texts(source: str) -> list[str]:
    return [s.text for s in split_sql(source)]


def test_plain_statements_are_trimmed_like_the_cli() -> None:
    assert texts("select 1;\n  select 2 ;;\n\nselect 3") == ["select 1", "select 2", "select 3"]


def test_leading_comments_stay_with_their_statement_but_line_points_at_the_code() -> None:
    source = "select 1;\n-- about two\n/* more */\nselect 2;\n"
    stmts = split_sql(source)
    assert stmts[1].text == "-- about two\n/* more */\nselect 2"
    assert stmts[1].line == 4
    assert source[stmts[1].offset :].startswith(stmts[1].text)


def test_trailing_comment_is_kept_but_empty() -> None:
    stmts = split_sql("select 1;\n-- the end\n")
    assert [s.text for s in stmts] == ["select 1", "-- the end"]
    assert stmts[1].is_empty
    assert not stmts[0].is_empty


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("select 'a;b'; select 2", ["select 'a;b'", "select 2"]),
        ("select 'it''s;'; select 2", ["select 'it''s;'", "select 2"]),
        ("select E'a\\';b'; select 2", ["select E'a\\';b'", "select 2"]),
        ("select e'\\\\'; select 2", ["select e'\\\\'", "select 2"]),
        # Outside E'' a backslash is an ordinary character (standard_conforming_strings).
        ("select 'a\\'; select 2", ["select 'a\\'", "select 2"]),
        ('select 1 as "we;ird"""; select 2', ['select 1 as "we;ird"""', "select 2"]),
        ("select 1 -- not; here\n; select 2", ["select 1 -- not; here", "select 2"]),
        (
            "select /* a /* nested; */ still; */ 1; select 2",
            ["select /* a /* nested; */ still; */ 1", "select 2"],
        ),
        ("select $$a;b$$; select 2", ["select $$a;b$$", "select 2"]),
        ("select $fn$ $$;$$ ; $fn$; select 2", ["select $fn$ $$;$$ ; $fn$", "select 2"]),
        ("select $1; select 2", ["select $1", "select 2"]),
        ("select a$b; select 2", ["select a$b", "select 2"]),
    ],
)
def test_semicolons_inside_literals_comments_and_bodies(source: str, expected: list[str]) -> None:
    assert texts(source) == expected


def test_plpgsql_body_with_nested_dollar_quotes() -> None:
    source = """create function f() returns void language plpgsql as $body$
begin
  execute $q$select 1; select 2$q$;
  raise notice 'done;';
end
$body$;
select 3;"""
    stmts = split_sql(source)
    assert len(stmts) == 2
    assert stmts[0].text.endswith("$body$")
    assert stmts[1].line == 7


def test_begin_atomic_body_is_one_statement() -> None:
    source = """create or replace function f(x int) returns int
language sql
begin atomic
  select case when x > 0 then 1 else 0 end;
  select 2;
end;
select 3;"""
    assert texts(source)[1] == "select 3"
    assert len(texts(source)) == 2


def test_begin_outside_routines_is_a_transaction_statement() -> None:
    assert texts("begin; select 1; end;") == ["begin", "select 1", "end"]


def test_parentheses_protect_semicolons_like_the_cli() -> None:
    assert texts("select (1;2); select 3") == ["select (1;2)", "select 3"]


def test_unterminated_literal_runs_to_the_end() -> None:
    assert texts("select 'oops; select 2") == ["select 'oops; select 2"]


def test_line_at() -> None:
    assert line_at("a\nb\nc", 0) == 1
    assert line_at("a\nb\nc", 2) == 2
    assert line_at("a\nb\nc", 4) == 3
    assert line_at("a\nb\nc", 99) == 3


def test_offsets_map_back_into_the_source() -> None:
    source = "\n\n  create table t (id int);\n\n\tinsert into t values (1);"
    for stmt in split_sql(source):
        assert source[stmt.offset : stmt.offset + len(stmt.text)] == stmt.text
