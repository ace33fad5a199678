"""The engine runs its linear algebra on one BLAS thread (swap.threads explains the stalls)."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from swap.threads import single_blas_thread


def test_every_loaded_blas_runs_one_thread_after_the_engine_limits_it() -> None:
    single_blas_thread()
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert len(blas) >= 2, "numpy's and scipy's OpenBLAS should both be loaded and limited"
    assert {lib["num_threads"] for lib in blas} == {1}
