#!/usr/bin/env bash
# Re-run the command-line sessions of docs/cli.md and put their real output there.
# Usage: bash docs/cli-sessions/capture.sh   (with gearshift on PATH, e.g. after . .venv/bin/activate)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/jobs.py "$here"/prices.jsonl "$here"/broken.jsonl "$work"/
cd "$work" && mkdir out
python3 -c "import itertools, string; print('\n'.join(a + b for a, b in itertools.product(string.ascii_lowercase, repeat=2)))" > prefixes.txt
{ echo '$ gearshift advise jobs:crack --input prefixes.txt --lines'; gearshift advise jobs:crack --input prefixes.txt --lines 2>&1; } > out/advise.txt
{ echo '$ gearshift run jobs:crack --input prefixes.txt --lines --output found.jsonl'
  # Job control on while it starts: a plain background job would ignore SIGINT (the Ctrl-C we send).
  set -m
  gearshift run jobs:crack --input prefixes.txt --lines --output found.jsonl > out/run1.raw 2>&1 &
  pid=$!
  set +m
  sleep 3; kill -INT "$pid"; wait "$pid"; echo "[exit status $?]" >> out/run1.raw
  sed 's/^gearshift run: interrupted/^Cgearshift run: interrupted/' out/run1.raw
  echo '$ gearshift run jobs:crack --input prefixes.txt --lines --output found.jsonl --resume'
  gearshift run jobs:crack --input prefixes.txt --lines --output found.jsonl --resume 2>&1; echo "[exit status $?]"
  echo '$ grep -v null found.jsonl'; grep -v null found.jsonl
} > out/run.txt
{ echo '$ cat prices.jsonl'; cat prices.jsonl
  echo '$ gearshift run jobs:parse_price --input prices.jsonl --output prices.out.jsonl --errors return'
  gearshift run jobs:parse_price --input prices.jsonl --output prices.out.jsonl --errors return 2>&1; echo "[exit status $?]"
  echo '$ cut -c1-100 prices.out.jsonl'; cut -c1-100 prices.out.jsonl
  echo '$ gearshift run jobs:parse_price --input broken.jsonl --output x.jsonl'
  gearshift run jobs:parse_price --input broken.jsonl --output x.jsonl 2>&1; echo "[exit status $?]"
  echo '$ gearshift run jobs:parse --input prices.jsonl --output x.jsonl'
  gearshift run jobs:parse --input prices.jsonl --output x.jsonl 2>&1; echo "[exit status $?]"
} > out/run2.txt
{ echo '$ gearshift bench --quick --plot bench.png'; gearshift bench --quick --plot bench.png 2>/dev/null; } > out/bench.txt
{ echo '$ gearshift demo'; gearshift demo 2>&1; } > out/demo.txt
uptime > out/uptime.txt
python3 "$here/update_readme.py" "$work/out" "$here/jobs.py" "$root/docs/cli.md"
