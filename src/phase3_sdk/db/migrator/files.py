"""Migration files: where they are (a checkout's ``supabase/migrations`` or the wheel's copy), how they are
named and ordered, and exporting them for the Supabase CLI."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from phase3_sdk.db.sqlsplit import Statement, split_sql
from phase3_sdk.errors import MigrationError

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[^/\\]+)\.sql$")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One migration file on disk: ``<version>_<name>.sql``."""

    version: str
    name: str
    path: Path

    def read(self) -> str:
        """Return the file's SQL text."""
        return self.path.read_text(encoding="utf-8")

    def statements(self) -> list[Statement]:
        """Return the file's statements, as the Supabase CLI splits them."""
        return split_sql(self.read())


# -- Where the migrations are ------------------------------------------------------------------------------
#
# One source of truth: the repository's supabase/migrations (where the Supabase CLI looks). The wheel
# carries that same folder as package data (pyproject.toml force-includes it as phase3_sdk/_migrations),
# so an installed SDK has its schema without a checkout; a checkout always uses the folder itself, never
# a copy that could be stale.

_PACKAGED = "_migrations"


def _checkout_migrations_dir() -> Path | None:
    """``supabase/migrations`` of the repository this package is imported from, if it is a checkout."""
    package = Path(__file__).resolve().parents[2]  # .../src/phase3_sdk
    root = package.parents[1]
    folder = root / "supabase" / "migrations"
    if package.parent.name == "src" and (root / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def packaged_migrations_dir() -> Path | None:
    """The copy of the migrations the installed wheel carries (``phase3_sdk/_migrations``), if any."""
    folder = resources.files("phase3_sdk").joinpath(_PACKAGED)
    # Wheels install as plain files; a zipped import would give a Traversable that is not a Path.
    if isinstance(folder, Path) and folder.is_dir():
        return folder
    return None


def default_migrations_dir(start: str | Path | None = None) -> Path:
    """The Phase 3 migrations folder.

    With ``start``, the first ``supabase/migrations`` found walking up from it. Without, the repository's
    ``supabase/migrations`` when the SDK runs from a checkout, else the copy the installed package carries.
    Raises :class:`MigrationError` when there is none.
    """
    if start is not None:
        here = Path(start)
        for folder in (here, *here.resolve().parents):
            candidate = folder / "supabase" / "migrations"
            if candidate.is_dir():
                return candidate
        raise MigrationError(
            f"no supabase/migrations folder in {here} or its parents",
            hint="give the migrations folder itself, or no folder for the SDK's own migrations",
        )
    found = _checkout_migrations_dir() or packaged_migrations_dir()
    if found is None:
        raise MigrationError(
            "this installation of phase3-sdk carries no migrations",
            hint="reinstall it from a wheel or a checkout, or give the migrations folder explicitly",
        )
    return found


def export_migrations(dest: str | Path, source: str | Path | None = None) -> list[Path]:
    """Copy the migrations (default: :func:`default_migrations_dir`) into ``dest`` for the Supabase CLI.

    Returns the files written. Identical files already in ``dest`` are left alone; a file of the same name
    with other content raises :class:`MigrationError` before anything is written, so an edited migration is
    never overwritten.
    """
    files = discover(default_migrations_dir() if source is None else source)
    target = Path(dest)
    clashes = [
        f.path.name
        for f in files
        if (target / f.path.name).exists() and (target / f.path.name).read_bytes() != f.path.read_bytes()
    ]
    if clashes:
        raise MigrationError(
            f"{target} already has different content in {', '.join(clashes)}",
            file=str(target / clashes[0]),
            hint="export into an empty folder, or move the edited files away first",
        )
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for f in files:
        out = target / f.path.name
        if not out.exists():
            shutil.copyfile(f.path, out)
            written.append(out)
    return written


def discover(migrations_dir: str | Path) -> list[MigrationFile]:
    """Return the folder's migrations in version order.

    Raises :class:`MigrationError` if the folder is missing, a ``.sql`` file is not named
    ``<14-digit version>_<name>.sql``, or two files share a version (the CLI would record only one).
    Other files (README, .gitkeep) are ignored, as the CLI ignores them.
    """
    folder = Path(migrations_dir)
    if not folder.is_dir():
        raise MigrationError(
            f"migrations folder not found: {folder}",
            hint="give the folder that holds the <version>_<name>.sql files, or none for the SDK's own",
        )
    files: list[MigrationFile] = []
    bad: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".sql") or not path.is_file():
            continue
        m = _FILE_NAME.match(path.name)
        if m is None:
            bad.append(path.name)
        else:
            files.append(MigrationFile(m.group("version"), m.group("name"), path))
    if bad:
        raise MigrationError(
            f"badly named migration file(s): {', '.join(bad)}",
            file=str(folder / bad[0]),
            hint="name them <14-digit timestamp>_<name>.sql, e.g. 20260101120000_create_things.sql",
        )
    by_version: dict[str, list[str]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f.path.name)
    dupes = [names for names in by_version.values() if len(names) > 1]
    if dupes:
        listed = "; ".join(" and ".join(names) for names in dupes)
        raise MigrationError(
            f"duplicate migration version(s): {listed}",
            file=str(folder / dupes[0][1]),
            hint="give each file its own timestamp (the version is the 14 digits before the first _)",
        )
    return sorted(files, key=lambda f: f.version)
