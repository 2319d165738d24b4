"""A schema's shape as text, to tell whether running a migration again changed anything.

:func:`snapshot` reads the catalog of the given schemas into ``{object: definition}``: tables and
their columns (type, nullability, default or generation, storage), constraints, indexes, row level
security and policies, functions (full definition, security, settings, privileges), triggers, table and
column privileges, and where each extension lives. Two snapshots are compared with :func:`diff`, one
line per object that appeared, disappeared or changed. Object identifiers (oids) never appear, so a
function dropped and created again the same way compares equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg

__all__ = ["diff", "snapshot"]

_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "column",
        """
        select format('%%s.%%s.%%s', n.nspname, c.relname, a.attname),
               concat_ws(' ', pg_catalog.format_type(a.atttypid, a.atttypmod),
                         case when a.attnotnull then 'not null' end,
                         case when a.attgenerated <> '' then 'generated' end,
                         pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                         'storage=' || a.attstorage::text, 'acl=' || a.attacl::text)
        from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on c.oid = a.attrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0
          and not a.attisdropped
        """,
    ),
    (
        "table",
        """
        select format('%%s.%%s', n.nspname, c.relname),
               concat_ws(' ', c.relkind::text, 'rls=' || c.relrowsecurity::text,
                         'force=' || c.relforcerowsecurity::text,
                         'acl=' || c.relacl::text, 'options=' || c.reloptions::text)
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'S')
        """,
    ),
    (
        "view",
        """
        select format('%%s.%%s', n.nspname, c.relname), pg_catalog.pg_get_viewdef(c.oid)
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('v', 'm')
        """,
    ),
    (
        "constraint",
        """
        select format('%%s.%%s.%%s', n.nspname, c.relname, k.conname), pg_catalog.pg_get_constraintdef(k.oid)
        from pg_catalog.pg_constraint k
        join pg_catalog.pg_class c on c.oid = k.conrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s)
        """,
    ),
    (
        "index",
        """
        select format('%%s.%%s', n.nspname, i.relname), pg_catalog.pg_get_indexdef(i.oid)
        from pg_catalog.pg_index x
        join pg_catalog.pg_class i on i.oid = x.indexrelid
        join pg_catalog.pg_namespace n on n.oid = i.relnamespace
        where n.nspname = any(%(schemas)s)
        """,
    ),
    (
        "policy",
        """
        select format('%%s.%%s.%%s', n.nspname, c.relname, p.polname),
               concat_ws(' ', p.polcmd::text,
                         case when p.polpermissive then 'permissive' else 'restrictive' end,
                         array(select pg_catalog.quote_ident(r.rolname) from pg_catalog.pg_roles r
                               where r.oid = any(p.polroles) order by 1)::text,
                         'using=' || pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                         'check=' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
        from pg_catalog.pg_policy p
        join pg_catalog.pg_class c on c.oid = p.polrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s)
        """,
    ),
    (
        "function",
        """
        select p.oid::pg_catalog.regprocedure::text,
               concat_ws(' ', pg_catalog.pg_get_functiondef(p.oid), 'acl=' || p.proacl::text)
        from pg_catalog.pg_proc p
        join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        left join pg_catalog.pg_depend e on e.objid = p.oid and e.deptype = 'e'
        where n.nspname = any(%(schemas)s) and e.objid is null and p.prokind in ('f', 'p')
        """,
    ),
    (
        "trigger",
        """
        select format('%%s.%%s.%%s', n.nspname, c.relname, t.tgname), pg_catalog.pg_get_triggerdef(t.oid)
        from pg_catalog.pg_trigger t
        join pg_catalog.pg_class c on c.oid = t.tgrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and not t.tgisinternal
        """,
    ),
    (
        "extension",
        """
        select e.extname, n.nspname
        from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
        """,
    ),
)


def snapshot(url: str, schemas: Sequence[str] = ("public",)) -> dict[str, str]:
    """Return ``{"<kind> <name>": definition}`` for every object of ``schemas`` (and every extension)."""
    shape: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # Names print schema-qualified whatever the caller's path: the snapshot must not depend on it.
        conn.execute("set search_path to ''")
        for kind, query in _QUERIES:
            for name, definition in conn.execute(query, {"schemas": list(schemas)}).fetchall():
                shape[f"{kind} {name}"] = str(definition)
    return shape


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """One line per object that is only in one snapshot or defined differently, in name order."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"{key}: dropped")
        elif key not in before:
            lines.append(f"{key}: added")
        elif before[key] != after[key]:
            lines.append(f"{key}: changed")
    return lines
