#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, with every warning an error.
#   pip install -e '.[docs]' && bash docs/build.sh
# The benchmark pages are generated from the committed results files (benchmarks/results/*.json:
# each records its commit, host, Python and every round); nothing is timed here, so the build
# takes seconds. Re-measure on your machine with `gearshift bench --quick` (or the scripts the
# Benchmarks page names) and rebuild.
set -euo pipefail
cd "$(dirname "$0")"
# The interpreter: $PYTHON if set, else the repository's .venv (what .ci/run makes), else python3.
if [ -z "${PYTHON:-}" ]; then
    if [ -x ../.venv/bin/python ]; then PYTHON=../.venv/bin/python; else PYTHON=python3; fi
fi
rm -rf _build _generated
"$PYTHON" _tools/generate.py
"$PYTHON" -m sphinx -W --keep-going -q -b html . _build/html
echo "docs built: $(pwd)/_build/html/index.html"
