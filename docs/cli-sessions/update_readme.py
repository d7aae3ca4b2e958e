"""Put the sessions captured by capture.sh in docs/cli.md: update_readme.py OUT_DIR JOBS_PY docs/cli.md."""

import pathlib
import sys

out = pathlib.Path(sys.argv[1])


def block(name):
    return "```console\n" + (out / name).read_text().rstrip() + "\n```\n"


load = (out / "uptime.txt").read_text().split("load average:")[1].split(",")[0].strip()
bench_seconds = (out / "bench.txt").read_text().splitlines()[1].rsplit(": ", 1)[1]
jobs = pathlib.Path(sys.argv[2]).read_text().rstrip()
section = f"""# Command line

```
gearshift advise MODULE:FUNCTION --input FILE [--lines] [--sample N] [--json] [--address URL]
gearshift run    MODULE:FUNCTION --input FILE --output FILE [--lines] [--mode M] [--workers N]
                 [--chunksize N] [--timeout S] [--retries N] [--unordered] [--errors raise|return]
                 [--resume] [--store URL] [--quiet]
gearshift bench  [--quick] [--plot FILE.png] [--json] [--only NAMES] [--repeat N]
gearshift demo   [--quick]
```

`MODULE` is a dotted module on `sys.path` (the current directory included) or a path to a `.py`
file. The input is JSON Lines (one JSON value per line is one item) or, with `--lines`, plain
text (each line is one string item). `gearshift COMMAND --help` shows every option with
examples. Mistakes in the input (a module or function that is not there, malformed JSON on line
N, an unreadable file) print one line and exit with status 2, never a traceback.

The sessions below are real output, captured on a shared 2-CPU machine (load average {load}
when captured; timings move with the machine's load). They show what each command prints; the timings
in them are one moment of that machine, not figures this documentation relies on (those are on
[Benchmarks](benchmarks.md), each from a results file that records its commit, host and Python). They use this `jobs.py`:

```python
{jobs}
```

## `gearshift advise`: the plan and its evidence

It runs the function on a sample of the input and prints what was measured, the plan that
`mode="auto"` would follow, and why each other mode lost. `--json` prints the same for scripts.

{block("advise.txt")}
## `gearshift run`: checkpointed, resumable

Results are written as one JSON line per item, in input order: `{{"index", "value"}}` or
`{{"index", "error", "traceback", "attempts"}}`. Finished items are checkpointed as they complete
in a SQLite file beside the output (`FILE.gearshift.sqlite`, or `--store sqlite:///PATH`). If the
run is killed (Ctrl-C, `kill -9`, a power cut), the same command with `--resume` runs only the
items that are not in the checkpoint, and the output ends with every item exactly once, in order;
a `kill -9` loses at most the last 0.25 s of finished work, in every mode (the test suite kills
real runs with SIGKILL to check this). The output file appears only once it is complete; the
checkpoint file is then deleted (a `--store` is kept, marked finished: `--resume` writes the output
again from it; after the file was deleted, `--resume` finds the complete output and runs nothing). `--resume` refuses a checkpoint that belongs
to another function or another input file. On a terminal the progress is a bar
(items done and total, rate, ETA, failures, mode and workers); otherwise a plain line every
5 seconds; `--quiet` shows nothing.

{block("run.txt")}
With `--errors return`, failed items are recorded and the run goes on; the default
(`--errors raise`) stops at the first failure, keeps the checkpoint, and prints the traceback.

{block("run2.txt")}
Exit status: 0 every item succeeded; 1 some items failed; 2 usage error; 130 interrupted.

## `gearshift bench`: which model wins on this machine

Five built-in workloads (CPU-bound pure Python, CPU work that releases the GIL, blocking I/O with
a few connections, slow I/O with many connections against a local server on 127.0.0.1, tiny
tasks) under every mode and `auto`, side by side in one process. `--quick` was sized for under
30 s on 2 cores (it took {bench_seconds} below); since an `async def` function runs one item at a time
per worker in `thread` and `process` mode (the contract's C6), its slow-I/O row takes over a
minute there (see that row in `benchmarks/results/bench-quick.json`). `--plot FILE.png` draws
the chart (`pip install 'gearshift[plot]'`); `--json` prints the figures.

{block("bench.txt")}
The same five workloads, measured with every round in a results file, are charted on
[Which model when](models.md).

## `gearshift demo`

Four classic jobs, each under every mode, with the winner and what `auto` chose and why.

{block("demo.txt")}"""
readme = pathlib.Path(sys.argv[3])
text = readme.read_text()
start = text.index("# Command line")
readme.write_text(text[:start] + section)
