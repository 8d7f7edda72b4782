"""One BLAS thread per process while content detectors run, unless the operator chose a count.

Content criteria already run side by side, each on a thread of its own, beside the decoder's
frame threads. A detector's matrix product (numpy's `@` on OpenBLAS) then starts BLAS threads
that spin-wait for the cores those threads hold: on the QC judge of `benchmarks/` (section 10)
the evaluation used 9.2-9.5 s of CPU with OpenBLAS's default of one thread per core and
7.2-7.6 s with one. Setting `OPENBLAS_NUM_THREADS`, `OMP_NUM_THREADS` or
`MKL_NUM_THREADS` leaves the libraries as configured.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_warned = False
_CHOSEN_BY_OPERATOR = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_blas_threads() -> None:
    """Cap every BLAS library loaded in this process at one thread.

    Called as each content run starts (0.3 ms once threadpoolctl is imported), so a library a
    detector loaded during an earlier evaluation (scipy brings its own OpenBLAS) is capped too.
    """
    if any(os.environ.get(name) for name in _CHOSEN_BY_OPERATOR):
        return
    from threadpoolctl import threadpool_limits

    global _warned
    try:
        threadpool_limits(limits=1, user_api="blas")
    except Exception as exc:  # an unknown BLAS build: run with its own threads, as before
        if not _warned:
            _warned = True
            log.warning("could not limit BLAS to one thread (%s); content detectors may contend for CPU", exc)
