"""The ``phase3`` console script: ``phase3_sdk.cli.main``, or one line when the 'cli' extra is missing.

A separate module because ``phase3_sdk.cli`` imports rich and psycopg at its top: without them the import
itself fails, before ``main`` could turn the error into its usual one-line ``phase3: error: ...``.
"""

from __future__ import annotations

import sys

from .errors import MissingExtraError


def main() -> int:
    """Run ``phase3`` (see :func:`phase3_sdk.cli.main`)."""
    try:
        from .cli import main as cli_main
    except MissingExtraError as exc:
        print(f"phase3: error: {exc}", file=sys.stderr)
        return 1
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
