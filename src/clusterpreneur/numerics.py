"""How the package's PyTensor code is compiled: the same seed gives the same bytes."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def reproducible_numerics() -> Iterator[None]:
    """Compile PyTensor's numba code without ``fastmath`` inside this block.

    With fastmath, LLVM may order floating-point sums differently in a first (cold) compile
    than in the code later loaded from PyTensor's on-disk cache, so the same seed gave other
    draws on a fresh machine than on the next run, for every rung of the ladder. Without it
    a fit is the same bytes whether its code was compiled or cached, and sampling is no
    slower (``BENCHMARKS.md``). PyTensor's own setting is restored on leaving.
    """
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield


def with_reproducible_numerics(fn: Callable) -> Callable:
    """``fn`` run inside :func:`reproducible_numerics`."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with reproducible_numerics():
            return fn(*args, **kwargs)

    return wrapped
