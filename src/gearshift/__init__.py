"""gearshift: run work under the right concurrency model, and prove it with measurements.

The public API is everything re-exported here; modules whose names start with
an underscore are private.

The names are loaded on first use (PEP 562): ``import gearshift`` costs almost
nothing, and a worker process, which imports only ``gearshift._worker``, does
not pay for the planner, the runner and the backends it never uses.
"""

from ._version import __version__ as __version__

# typing.TYPE_CHECKING without importing typing, which costs a script ~10 ms (type checkers read the name)
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ loads these
    from ._advice import advise as advise
    from ._advice import profile as profile
    from ._aio import aimap as aimap
    from ._aio import amap as amap
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
    from ._plan import Alternative as Alternative
    from ._plan import Plan as Plan
    from ._profile import Profile as Profile
    from ._report import RunReport as RunReport
    from ._report import reporting as reporting

#: public name -> the private module that defines it
_HOME = {
    "aimap": "_aio",
    "amap": "_aio",
    "imap": "_api",
    "map": "_api",
    "starmap": "_api",
    "Failure": "_errors",
    "GearshiftError": "_errors",
    "MissingDependencyError": "_errors",
    "RemoteError": "_errors",
    "RemoteTraceback": "_errors",
    "TaskTimeout": "_errors",
    "UnpicklableError": "_errors",
    "WorkerCrashed": "_errors",
    "Executor": "_executor",
    "ProcessPoolExecutor": "_executor",
    "ThreadPoolExecutor": "_executor",
    "Alternative": "_plan",
    "Plan": "_plan",
    "advise": "_advice",
    "profile": "_advice",
    "Profile": "_profile",
    "RunReport": "_report",
    "reporting": "_report",
}

__all__ = [
    "Alternative",
    "Executor",
    "Failure",
    "GearshiftError",
    "MissingDependencyError",
    "Plan",
    "ProcessPoolExecutor",
    "Profile",
    "RemoteError",
    "RemoteTraceback",
    "RunReport",
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
    "reporting",
    "starmap",
]


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is an error there

    def __getattr__(name: str) -> object:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module 'gearshift' has no attribute {name!r}")
        # (__import__ with a fromlist returns the submodule; importlib would load itself and warnings: 0.8 ms)
        value = getattr(__import__(f"{__name__}.{home}", fromlist=("_",)), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    """The public names, and nothing else (not the helpers this module itself uses)."""
    return sorted(__all__)


del TYPE_CHECKING  # (not a name of gearshift's)
