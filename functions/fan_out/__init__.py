"""Lambda runs this before the handler module: the garbage collector is paused for the import (shared/collector.py)
and Powertools packages are narrowed first (shared/lazy_packages.py)."""

from shared import collector
from shared.lazy_packages import narrow_powertools

collector.pause()
narrow_powertools()
