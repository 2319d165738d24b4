"""``python -m phase3_sdk.cli``: the ``phase3`` command."""

import sys

from phase3_sdk.cli import main

sys.exit(main())
