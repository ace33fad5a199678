"""One BLAS thread per engine process: OpenBLAS's own thread pool stalls the engine's small sums.

The engine's linear algebra is small (9x9 spherical-harmonic solves, (N, 3) products, scipy's
Delaunay barycentric transforms); OpenBLAS still splits it over its threads, which spin-wait for
work. Beside busy threads (x264, torch, a second worker) those waits stall: the same `warp_basis`
call measured 4-9 ms with one BLAS thread and 6-3400 ms with two (`bench/posters.py`, 2-core
machine). Jobs run in parallel across worker processes, never by splitting one job's sums, so the
engine limits both OpenBLAS copies (numpy's and scipy's wheels each ship one) to one thread, once
per process, through `threadpoolctl` (the maintained way; environment variables only work before
numpy is imported, which an application embedding the engine cannot promise).
"""

from __future__ import annotations

from functools import cache


@cache
def single_blas_thread() -> None:
    """Limit every loaded BLAS (numpy's and scipy's OpenBLAS) to one thread for this process."""
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS, so the limit reaches it too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
