"""Lambda runs this before the handler module: Powertools packages are narrowed first (shared/lazy_packages.py)."""

from shared.lazy_packages import narrow_powertools

narrow_powertools()
