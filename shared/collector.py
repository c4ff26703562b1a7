"""The garbage collector during a handler's cold import: off while the modules load, then what they made frozen.

Importing a handler makes some 85,000 objects (modules, classes, functions, botocore's and pydantic's tables) that
live as long as the execution environment. With the collector on, every 2,000 new objects start a collection of the
young ones: some 40 in one import, nearly a tenth of its time, and they find almost nothing to free (a few hundred
objects of cyclic garbage). :func:`pause`, called by each function's package (which Lambda imports before the handler
module), turns the collector off; :func:`resume`, at the end of each handler module, moves every object then alive
into the permanent generation (:func:`gc.freeze`) and turns the collector back on. No collection looks at the
frozen objects again, so the invocations' collections go through only what the invocations made, instead of the
imported objects over and over. The cost: the import's few hundred garbage objects are kept for the environment's
life instead of freed (tens of kB).

Only in a Lambda execution environment (``AWS_EXECUTION_ENV``, which Lambda and ``nudge bench`` set): a test or a
tool that imports a function's package but never its handler module would otherwise go on without the collector.
"""

from __future__ import annotations

import gc
import os

_paused: list[bool] = []  # one entry while this module holds the collector off


def pause() -> None:
    """Turn the collector off for the rest of a cold import, in a Lambda execution environment only."""
    if not _paused and gc.isenabled() and os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_"):
        gc.disable()
        _paused.append(True)


def resume() -> None:
    """Freeze every object alive now and turn the collector back on, if :func:`pause` turned it off."""
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.enable()
