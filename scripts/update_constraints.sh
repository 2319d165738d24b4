#!/usr/bin/env bash
# Re-pin constraints/dev.txt: resolve '.[dev]' afresh, newest releases within pyproject's ranges, in a
# new venv with the pip that venv carries (the pip users have), and record every version it chose.
# Run it on purpose (a new release to adopt, a range changed), then run the suite and commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev]'
{
  echo "# The versions CI tests, for '.[dev]' on Python 3.11: made by scripts/update_constraints.sh."
  echo "# Installed with: pip install -c constraints/dev.txt -e '.[dev]'. Edit pyproject.toml, not this file."
  "$tmp/venv/bin/pip" freeze --exclude-editable --disable-pip-version-check
} > constraints/dev.txt
echo "constraints/dev.txt: $(grep -vc '^#' constraints/dev.txt) pins"
