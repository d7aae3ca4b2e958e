"""``import gearshift`` stays light: heavy machinery loads only when a mode needs it."""

from __future__ import annotations

import ast
import subprocess
import sys

# Top-level packages that must not be imported by `import gearshift` alone.
HEAVY = ("multiprocessing", "asyncio", "subprocess", "rich", "dask", "distributed", "ray", "numpy", "cloudpickle")


def _modules_after(code: str) -> set[str]:
    # repr, not json: the probe must not load what it looks for
    script = f"import sys\n{code}\nprint(repr(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))


def test_import_gearshift_loads_no_heavy_machinery() -> None:
    loaded = _modules_after("import gearshift")
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], f"import gearshift pulled in: {heavy}"


def test_the_check_sees_heavy_modules_when_they_are_used() -> None:
    # The same probe notices the process machinery once process mode runs, so the test above can fail.
    loaded = _modules_after("import gearshift\nassert gearshift.map(abs, [-1, 2], mode='process') == [1, 2]")
    assert "cloudpickle" in loaded
    assert "subprocess" in loaded


def test_a_worker_process_loads_only_what_it_runs() -> None:
    # Worker processes import gearshift._worker; the planner, the runner and the
    # backends would only slow every worker's start (the names load on first use).
    loaded = _modules_after("import gearshift._worker")
    unneeded = {"gearshift._api", "gearshift._runner", "gearshift._planner", "gearshift._auto"}
    assert sorted(loaded & unneeded) == []


def test_public_names_load_on_first_use() -> None:
    loaded = _modules_after("import gearshift\ngearshift.map\nfrom gearshift import TaskTimeout, advise")
    assert {"gearshift._api", "gearshift._errors", "gearshift._advice"} <= loaded
    out = subprocess.run(
        [sys.executable, "-c", "import gearshift; gearshift.no_such_name"], capture_output=True, text=True, timeout=60
    )
    assert "module 'gearshift' has no attribute 'no_such_name'" in out.stderr


def test_a_sync_map_loads_nothing_of_auto() -> None:
    # import gearshift and a first mode="sync" map: the auto stack (measuring, the cost model,
    # the lookahead's watcher) is for mode="auto" only, and a script pays for what it uses.
    loaded = _modules_after("import gearshift\nassert gearshift.map(abs, [-1, 2], mode='sync') == [1, 2]")
    auto = sorted(m for m in loaded if m == "gearshift._auto" or m.startswith("gearshift._auto."))
    assert auto == []
    assert "gearshift._quick" in loaded  # (the probe sees what the map loaded)
    loaded = _modules_after("import gearshift\nassert gearshift.map(abs, [-1, 2], workers=2) == [1, 2]")
    assert {"gearshift._auto", "gearshift._auto.costs"} <= loaded  # mode="auto", the default, does load it
    # (with nothing asked, a short job stays in gearshift._lean: tests/test_lean.py)


def test_auto_on_waiting_work_loads_no_statistics_nor_pickling() -> None:
    # statistics loads decimal and fractions (3 ms of a script's start) for the medians auto takes
    # (the profile's, the thread probe's, the limiter's): _profile.median takes them instead.
    code = "import gearshift, time\nassert gearshift.map(time.sleep, [0.002] * 300) == [None] * 300"
    loaded = _modules_after(code)
    assert {"gearshift._auto.measure", "gearshift._limiter"} <= loaded  # (measured, ran with the limiter)
    assert sorted(m for m in ("statistics", "decimal", "fractions") if m in loaded) == []
    # Work that waits: even moving its items for free, processes would not be the plan, so
    # their pickling is not measured, and cloudpickle (and pickle) stay unloaded.
    assert sorted(m for m in ("cloudpickle", "pickle") if m in loaded) == []


def test_loading_auto_loads_neither_dataclasses_nor_inspect_nor_typing() -> None:
    # Every script whose first auto call loads auto pays for what it loads (issue 21's cold runs):
    # @dataclass took 11 ms for the 17 classes on auto's path, dataclasses and inspect 7 ms more
    # (gearshift/_record.py), typing with its re and enum 5 ms (gearshift/_protocols.py,
    # gearshift/_option_types.py); a plain function is told from a coroutine function by its code flags.
    loaded = _modules_after("import gearshift._call, gearshift._auto")
    assert sorted(m for m in ("dataclasses", "inspect", "typing", "re", "enum") if m in loaded) == []
    # ... nor does an auto run that measures and runs threads (concurrent.futures brings re with logging)
    code = "import gearshift, time\nassert gearshift.map(time.sleep, [0.002] * 300) == [None] * 300"
    loaded = _modules_after(code)
    assert {"gearshift._auto.measure", "gearshift._auto.costs", "gearshift._plan"} <= loaded  # (auto ran)
    assert sorted(m for m in ("dataclasses", "inspect", "ast", "dis", "typing") if m in loaded) == []


#: what a plain sync map must not load: futures and logging (~6 ms), thread pools, json, the
#: traceback formatter, difflib, random; each is needed only by a mode or an option that uses it
SYNC_UNNEEDED = (
    "concurrent.futures",
    "logging",
    "json",
    "traceback",
    "difflib",
    "random",
    "gearshift._threads",
    "gearshift._watch",
)


#: what a sync map or starmap with nothing else asked must not load either (gearshift._quick runs it): the
#: general path, and typing, dataclasses, inspect, enum and re (about 25 ms of a script's start on 2 CPUs)
QUICK_UNNEEDED = (
    "typing",
    "dataclasses",
    "inspect",
    "enum",
    "re",
    "threading",
    "gearshift._call",
    "gearshift._runner",
    "gearshift._options",
    "gearshift._task",
)


def test_a_sync_map_loads_only_the_inline_path() -> None:
    # Scripts run once: the first mode="sync" map is paid for by every such script (issue 21, item 4).
    code = "import gearshift\nassert gearshift.map(abs, [-1, 2], mode='sync') == [1, 2]"
    loaded = _modules_after(code)
    assert sorted(m for m in SYNC_UNNEEDED if m in loaded) == []
    assert sorted(m for m in QUICK_UNNEEDED if m in loaded) == []
    loaded = _modules_after("import gearshift\nassert gearshift.starmap(pow, [(2, 3)], mode='sync') == [8]")
    assert sorted(m for m in QUICK_UNNEEDED if m in loaded) == []
    # ... and the check sees them when any other option is asked (the general path runs).
    loaded = _modules_after(
        "import gearshift\nassert gearshift.map(abs, [-1, 2], mode='sync', ordered=False) == [1, 2]"
    )
    assert {m for m in QUICK_UNNEEDED if m.startswith("gearshift.")} <= loaded  # (the general path loads no typing)
    # The check itself sees them once the options that need them are used.
    loaded = _modules_after(
        "import gearshift\n"
        "out = gearshift.map(abs, [-1, 'x'], mode='sync', retries=1, errors='return')\n"
        "assert out[0] == 1 and isinstance(out[1], gearshift.Failure)\n"
        "assert gearshift.map(abs, [1], mode='sync', timeout=5) == [1]\n"
    )
    assert {"random", "traceback", "concurrent.futures", "gearshift._threads"} <= loaded
