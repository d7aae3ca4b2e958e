"""Child interpreters that joblib's tests start (loky and multiprocessing workers, scripts run in a
subprocess) import gearshift.joblib too, as a user's module that picks backend="gearshift" does
when a worker imports it: joblib finds backends by name in the process that calls Parallel.
Only run_joblib_suite.py puts this folder on PYTHONPATH."""

import os

if os.environ.get("GEARSHIFT_JOBLIB_REGISTER") == "1":
    import gearshift.joblib  # noqa: F401
