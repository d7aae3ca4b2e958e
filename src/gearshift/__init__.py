"""gearshift: run work under the right concurrency model, and prove it with measurements.

The public API is everything re-exported here; modules whose names start with
an underscore are private.
"""

from __future__ import annotations

from ._api import aimap as aimap
from ._api import amap as amap
from ._api import imap as imap
from ._api import map as map  # noqa: A004 - shadows the builtin on purpose, as gearshift.map
from ._api import starmap as starmap
from ._errors import Failure as Failure
from ._errors import GearshiftError as GearshiftError
from ._errors import MissingDependencyError as MissingDependencyError
from ._errors import RemoteError as RemoteError
from ._errors import RemoteTraceback as RemoteTraceback
from ._errors import TaskTimeout as TaskTimeout
from ._errors import UnpicklableError as UnpicklableError
from ._errors import WorkerCrashed as WorkerCrashed
from ._executor import Executor as Executor
from ._executor import ProcessPoolExecutor as ProcessPoolExecutor
from ._executor import ThreadPoolExecutor as ThreadPoolExecutor
from ._plan import Plan as Plan
from ._probe import advise as advise
from ._probe import profile as profile
from ._profile import Profile as Profile
from ._version import __version__ as __version__

__all__ = [
    "Executor",
    "Failure",
    "GearshiftError",
    "MissingDependencyError",
    "Plan",
    "ProcessPoolExecutor",
    "Profile",
    "RemoteError",
    "RemoteTraceback",
    "TaskTimeout",
    "ThreadPoolExecutor",
    "UnpicklableError",
    "WorkerCrashed",
    "__version__",
    "advise",
    "aimap",
    "amap",
    "imap",
    "map",
    "profile",
    "starmap",
]
