"""The start of a worker process under the joblib backend (``gearshift.joblib``).

Kept apart from ``gearshift.joblib`` on purpose: that module imports joblib, which imports
NumPy, and a BLAS library reads its thread count once, when it loads.  This initializer
must set the cap before anything loads NumPy in the worker.
"""

from __future__ import annotations

import os
import pickle


def init_worker(env: dict[str, str], user_initializer: bytes | None) -> None:
    """Cap BLAS/OpenMP threads (joblib's ``inner_max_num_threads``), then run the caller's initializer.

    The caller's ``(initializer, initargs)`` come pickled (cloudpickle), and are unpickled only
    here: their modules may import NumPy.
    """
    os.environ.update(env)
    if user_initializer is not None:
        initializer, initargs = pickle.loads(user_initializer)
        initializer(*initargs)
