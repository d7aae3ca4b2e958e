#!/usr/bin/env bash
# Run CPython 3.13's concurrent.futures tests against gearshift's executors (see the runner's docstring).
# Needs a Python 3.13 (pyenv's 3.13.0, or python3.13 on PATH); builds .venv313 beside the repository's .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY313="${PY313:-}"
if [ -z "$PY313" ]; then
    if command -v pyenv >/dev/null && [ -x "$(pyenv root)/versions/3.13.0/bin/python3" ]; then
        PY313="$(pyenv root)/versions/3.13.0/bin/python3"
    else
        PY313="$(command -v python3.13)"
    fi
fi
"$PY313" -m venv .venv313 && .venv313/bin/pip install -q -e .
# Child interpreters that the tests start import concurrent.futures themselves: this hook swaps
# the executors there too, only when the runner asks (GEARSHIFT_SWAP_FUTURES=1).
site="$(.venv313/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cat > "$site/gearshift_swap_futures.pth" <<'PTH'
import os; os.environ.get("GEARSHIFT_SWAP_FUTURES") and exec("import concurrent.futures as f, gearshift as g\nf.ThreadPoolExecutor = g.ThreadPoolExecutor\nf.ProcessPoolExecutor = g.ProcessPoolExecutor")
PTH
exec .venv313/bin/python tests/cpython/run_cpython_futures_tests.py "$@"
