"""Split a PostgreSQL script into statements, keeping where each one starts in the file.

The migrator runs a migration one statement at a time (as the Supabase CLI does), so a failure names the
exact line. Splitting on ``;`` is only safe outside string literals, quoted identifiers, comments,
dollar-quoted bodies, parentheses and ``BEGIN ATOMIC ... END`` function bodies; this module is a small
lexer that knows those, and nothing else of SQL.

Each statement's text is what the Supabase CLI records in ``supabase_migrations.schema_migrations``:
the raw text between two top-level semicolons (leading comments included), trailing ``;`` removed and
whitespace trimmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Statement", "line_at", "split_sql"]

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")
# Only routines can hold a SQL-standard body (``BEGIN ATOMIC ... END``) with semicolons inside.
_ROUTINE_HEAD = re.compile(r"^create\s+(or\s+replace\s+)?(function|procedure)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a script.

    ``text`` is the statement as the Supabase CLI stores it; ``offset`` is the index in the script where
    ``text`` begins, so ``offset + k`` is the script position of ``text[k]``; ``line`` is the 1-based
    line of the statement's first token (after any leading comments), the line to show a user.
    """

    text: str
    offset: int
    line: int

    @property
    def is_empty(self) -> bool:
        """True when the statement holds only comments: nothing for the server to run."""
        return _first_token_index(self.text) >= len(self.text)


def line_at(source: str, offset: int) -> int:
    """Return the 1-based line number of ``source[offset]``."""
    return source.count("\n", 0, max(0, min(offset, len(source)))) + 1


def split_sql(source: str) -> list[Statement]:
    """Split ``source`` into statements at top-level semicolons.

    Handles ``'...'`` strings (with ``''``), ``E'...'`` strings (with backslash escapes), ``"..."``
    identifiers, ``--`` and nested ``/* */`` comments, ``$tag$...$tag$`` bodies, parentheses, and
    ``BEGIN ATOMIC ... END`` bodies of ``CREATE FUNCTION|PROCEDURE``. An unterminated construct runs to
    the end of the script (the server then reports the error, as it would for the CLI).
    """
    statements: list[Statement] = []
    n = len(source)
    start = 0  # where the current chunk began
    i = 0
    depth = 0  # parentheses
    atomic_depth = 0  # BEGIN/CASE ... END nesting inside a BEGIN ATOMIC body
    words: list[str] = []  # the first words of the current statement, lower-cased, to spot routines
    prev_word = ""

    def emit(end: int) -> None:
        chunk = source[start:end]
        stripped = chunk.rstrip(";").strip()
        if stripped:
            lead = len(chunk) - len(chunk.lstrip())
            first = lead + _first_token_index(stripped)
            statements.append(Statement(stripped, start + lead, line_at(source, start + first)))

    while i < n:
        c = source[i]
        nxt = source[i + 1] if i + 1 < n else ""
        if c == "-" and nxt == "-":
            eol = source.find("\n", i)
            i = n if eol < 0 else eol + 1
        elif c == "/" and nxt == "*":
            i = _skip_block_comment(source, i)
        elif c == "'":
            backslashes = i > 0 and source[i - 1] in "eE" and not _is_word_char(source, i - 2)
            i = _skip_quoted(source, i, "'", backslashes=backslashes)
        elif c == '"':
            i = _skip_quoted(source, i, '"', backslashes=False)
        elif c == "$" and not _is_word_char(source, i - 1) and (m := _DOLLAR_TAG.match(source, i)):
            close = source.find(m.group(0), m.end())
            i = n if close < 0 else close + len(m.group(0))
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth = max(0, depth - 1)
            i += 1
        elif c == ";" and depth == 0 and atomic_depth == 0:
            emit(i + 1)
            i += 1
            start = i
            words = []
            prev_word = ""
        elif (m := _WORD.match(source, i)) and not _is_word_char(source, i - 1):
            word = m.group(0).lower()
            if len(words) < 4:
                words.append(word)
            if depth == 0 and _ROUTINE_HEAD.match(" ".join(words)):
                # psql does the same bookkeeping: inside a routine, BEGIN (ATOMIC) and CASE open a
                # block that END closes, and only a semicolon outside every block ends the statement.
                if (word == "atomic" and prev_word == "begin") or (word == "case" and atomic_depth > 0):
                    atomic_depth += 1
                elif word == "end" and atomic_depth > 0:
                    atomic_depth -= 1
            prev_word = word
            i = m.end()
        else:
            i += 1
    emit(n)
    return statements


def _is_word_char(source: str, i: int) -> bool:
    return i >= 0 and (source[i].isalnum() or source[i] in "_$")


def _skip_block_comment(source: str, i: int) -> int:
    """Return the index after the ``/* */`` comment starting at ``i`` (PostgreSQL nests them)."""
    nesting = 0
    n = len(source)
    while i < n:
        if source.startswith("/*", i):
            nesting += 1
            i += 2
        elif source.startswith("*/", i):
            nesting -= 1
            i += 2
            if nesting == 0:
                return i
        else:
            i += 1
    return n


def _skip_quoted(source: str, i: int, quote: str, *, backslashes: bool) -> int:
    """Return the index after the literal opened at ``i``; a doubled quote stays inside it."""
    n = len(source)
    i += 1
    while i < n:
        c = source[i]
        if backslashes and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and source[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _first_token_index(text: str) -> int:
    """Index of the first character of ``text`` that is not whitespace or comment."""
    i = 0
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i):
            eol = text.find("\n", i)
            i = n if eol < 0 else eol + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        else:
            return i
    return n
