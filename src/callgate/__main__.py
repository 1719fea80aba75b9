"""`python -m callgate` runs the CLI."""

from __future__ import annotations

import sys

from callgate.cli.main import main

sys.exit(main())
