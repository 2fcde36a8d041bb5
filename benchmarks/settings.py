"""Production settings, with the benchmark's own copy of the static files.

Everything else is `portal.settings.production` (DEBUG off, cached templates, persistent
connections). Static files are collected into a private directory so that `make clean` or
another `collectstatic` in the same checkout cannot pull the manifest away mid-run.
"""

import tempfile
from pathlib import Path

from portal.settings.production import *  # noqa: F403

STATIC_ROOT = Path(tempfile.gettempdir()) / "portal-bench-static"
