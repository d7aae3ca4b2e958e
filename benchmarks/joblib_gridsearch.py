"""scikit-learn's GridSearchCV with n_jobs=2 on joblib's "gearshift" backend against "loky", in one run.

    python benchmarks/joblib_gridsearch.py [--rounds N] [--quick]

Needs scikit-learn (pip install gearshift[bench]).  Writes benchmarks/results/joblib_gridsearch.json
(under "meta": commit, host, Python, date, load average; versions; every round) and prints the medians.

The search: an SVC over a 4 x 3 grid with 5-fold cross-validation (60 fits of a few tens of
milliseconds each) on 1,000 synthetic samples.  Each backend's first fit starts its workers
(each must import scikit-learn) and is recorded as "cold"; the rounds after it reuse warm
workers (both backends keep them between calls).  The backends alternate within each round,
and which goes first alternates between rounds, so a change of machine load hits both.  The
figure is the median over rounds of the per-round ratio gearshift / loky (warm rounds), with
the sequential n_jobs=1 fit as the reference.  Results are checked equal to n_jobs=1's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from _meta import finish, run_meta

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("gearshift", "loky")


def search(n_jobs: int, backend: str | None, data: tuple[Any, Any], quick: bool) -> tuple[float, list[float]]:
    import joblib
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    grid = {"C": [0.1, 1, 10, 100], "gamma": ["scale", 0.01, 0.1]}
    if quick:
        grid = {"C": [0.1, 1], "gamma": ["scale"]}
    config = {"backend": backend} if backend else {}
    start = time.perf_counter()
    with joblib.parallel_config(n_jobs=n_jobs, **config):
        fitted = GridSearchCV(SVC(), grid, cv=5).fit(*data)
    return time.perf_counter() - start, [float(s) for s in fitted.cv_results_["mean_test_score"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="warm rounds (each runs both backends once)")
    parser.add_argument("--quick", action="store_true", help="a tiny grid and 2 rounds: checks the script runs")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    import joblib
    import sklearn
    from sklearn.datasets import make_classification

    import gearshift
    import gearshift.joblib

    data = make_classification(n_samples=300 if args.quick else 1000, n_features=20, random_state=0)
    meta = run_meta()
    meta["versions"] = {
        "gearshift": gearshift.__version__,
        "joblib": joblib.__version__,
        "scikit-learn": sklearn.__version__,
    }
    sequential, expected = search(1, None, data, args.quick)
    cold: dict[str, float] = {}
    for backend in BACKENDS:
        cold[backend], scores = search(2, backend, data, args.quick)
        assert scores == expected, f"{backend} gave other scores than n_jobs=1"
    timings: list[dict[str, float]] = []
    for i in range(rounds):
        order = BACKENDS if i % 2 == 0 else BACKENDS[::-1]
        one: dict[str, float] = {}
        for backend in order:
            one[backend], scores = search(2, backend, data, args.quick)
            assert scores == expected, f"{backend} gave other scores than n_jobs=1"
        timings.append(one)
        print(f"round {i + 1}: " + ", ".join(f"{b} {one[b]:.3f} s" for b in BACKENDS), flush=True)
    ratios = [t["gearshift"] / t["loky"] for t in timings]
    result = {
        "meta": finish(meta),
        "n_jobs": 2,
        "fits": len(expected) * 5,
        "sequential_seconds": sequential,
        "cold_seconds": cold,
        "rounds": timings,
        "median_seconds": {b: statistics.median(t[b] for t in timings) for b in BACKENDS},
        "median_ratio_gearshift_over_loky": statistics.median(ratios),
        "ratios": ratios,
    }
    print(json.dumps({k: result[k] for k in ("sequential_seconds", "cold_seconds", "median_seconds")}, indent=1))
    print(f"median ratio gearshift / loky (warm): {result['median_ratio_gearshift_over_loky']:.3f}")
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "joblib_gridsearch.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
