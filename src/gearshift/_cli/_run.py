"""``gearshift run``: map a function over a file, with a checkpoint that survives being killed.

Data flow::

    input file --(lazily, skipping finished indices)--> Runner --> on_results (as items complete)
                                                                     | JSON record per item
                                                                     v
                                     checkpoint store  <-- put_many, by a committer thread (COMMIT_SECONDS)
                                            |
                     when every item is in: | iter_records (index order)
                                            v
                           OUTPUT.tmp --os.replace--> OUTPUT

The output file appears only once it is complete, so it is never half-written.
If the process dies, the store still holds every batch it committed;
``--resume`` runs only the missing indices and then writes the whole output, so
it ends with every item exactly once, in input order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from array import array
from pathlib import Path
from typing import Any

from .._call import _combine, _Run
from .._options import make_options
from .._progress import Progress, choose_style
from .._store import Store, StoreURLError, open_store
from .._task import CALL_ONE
from . import option_values
from ._checkpoint import Checkpointer, _ItemFailed
from ._inputs import InputFile, UsageError, load_function

#: meta keys that must match for --resume (options such as --workers may change between attempts)
IDENTITY = ("function", "input", "format", "size", "mtime_ns", "items")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def checkpoint_path(output: Path) -> Path:
    """The default checkpoint file: beside the output, named after it."""
    return output.with_name(output.name + ".gearshift.sqlite")


def run_command(args: argparse.Namespace) -> int:
    fn = load_function(args.function)
    source = InputFile(args.input, lines=args.lines)
    identity = source.identity()
    total = source.scan()
    output = Path(args.output)
    if not output.parent.is_dir():
        raise UsageError(f"cannot write {output}: the folder {output.parent} does not exist")
    try:
        # Failures are always returned to this command: --errors raise is its own (it stops at the first one).
        options = make_options("gearshift run", **{**option_values(args, "run"), "errors": "return"})
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    meta = {
        "function": args.function,
        "input": identity["path"],
        "format": identity["format"],
        "size": identity["size"],
        "mtime_ns": identity["mtime_ns"],
        "items": total,
        "output": str(output.resolve()),
        "options": {"mode": args.mode, "workers": args.workers, "retries": args.retries, "timeout": args.timeout},
    }
    default_store = checkpoint_path(output)
    if args.resume and args.store is None and not default_store.exists():
        finished = _finished_output(output, total, identity["mtime_ns"])
        if finished is not None:  # the run finished (its checkpoint was deleted then): nothing to do
            if not args.quiet:
                sys.stderr.write(
                    f"gearshift: nothing to run: the run is finished and {output} holds all {total:,} results "
                    f"({finished:,} failed); delete it and leave out --resume to run everything again\n"
                )
            return EXIT_FAILED if finished else EXIT_OK
    try:
        store = open_store(args.store, default_path=default_store)
    except StoreURLError as exc:
        raise UsageError(str(exc)) from None
    try:
        done = _claim(store, meta, resume=args.resume, where=args.store or str(default_store), quiet=args.quiet)
        return _execute(args, fn, source, store, done, total, output, options)
    finally:
        store.close()


def _claim(store: Store, meta: dict[str, Any], *, resume: bool, where: str, quiet: bool = False) -> set[int]:
    """Make the store this run's, and return the indices already finished."""
    previous = store.get_meta()
    if previous is None:
        if resume and not quiet:
            sys.stderr.write(f"gearshift: no checkpoint at {where}: nothing to resume, starting from the first item\n")
        store.set_meta(meta)
        return set()
    done = store.done_indices()
    if previous.get("complete") and not resume:
        raise UsageError(
            f"the checkpoint store {where} holds a finished run of {previous.get('function')} "
            f"({len(done)} items): pass --resume to write its output again without running anything, "
            "or use another store"
        )
    if not resume:
        raise UsageError(
            f"a checkpoint of an unfinished run is at {where} ({len(done)} of {previous.get('items')} items done): "
            "pass --resume to continue it, or delete it to start over"
        )
    changed = [key for key in IDENTITY if previous.get(key) != meta.get(key)]
    if changed:
        what = ", ".join(f"{key} was {previous.get(key)!r}, now {meta.get(key)!r}" for key in changed)
        raise UsageError(
            f"cannot resume: the checkpoint at {where} belongs to a different run ({what}); "
            "delete it to start over, or give another --output"
        )
    store.set_meta({**meta, "complete": bool(previous.get("complete"))})  # options may change; identity may not
    return done


def _execute(
    args: argparse.Namespace,
    fn: Any,
    source: InputFile,
    store: Store,
    done: set[int],
    total: int,
    output: Path,
    options: Any,
) -> int:
    if len(done) == total:
        if not args.quiet:
            sys.stderr.write(
                f"gearshift: nothing to run: all {total:,} items are checkpointed in {_where(args, output)}; "
                "writing the output from it\n"
            )
        return _finish(args, store, output, total)
    pending: array[int] | None = None
    if done:
        pending = array("q", (i for i in range(total) if i not in done))
    items = _Sized(source if not done else (v for i, v in enumerate(source) if i not in done), total - len(done))
    checkpointer = Checkpointer(store, pending, stop_on_failure=args.errors == "raise")
    run = _Run(fn, options, CALL_ONE, None, on_results=checkpointer)
    progress = None
    if not args.quiet:
        style = choose_style(sys.stderr, when_not_a_terminal="lines")
        progress = Progress(
            total=total, label=run.describe, style=style, initial=len(done), interval=args.progress_interval
        )
        if done:
            sys.stderr.write(f"gearshift: resuming: {len(done):,} of {total:,} items already done\n")
        run.on_results = _combine(checkpointer, progress)
    try:
        try:
            for _ in run.batches(items):
                pass  # the results reach the checkpoint through on_results
        finally:
            checkpointer.close()  # commits what is left; only then may others use the store
    except _ItemFailed as stop:
        _close(progress)
        f = stop.failure
        sys.stderr.write(
            f"gearshift run: item {f.index} failed after {f.attempts} attempt(s): "
            f"{type(f.exception).__name__}: {f.exception}\n{f.traceback.rstrip()}\n"
            f"{_count(store):,} of {total:,} items are checkpointed in {_where(args, output)}; fix the function and "
            "add --resume to go on, or pass --errors return to record failures and continue\n"
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        _close(progress)
        sys.stderr.write(
            f"gearshift run: interrupted; {_count(store):,} of {total:,} items are checkpointed in "
            f"{_where(args, output)}; add --resume to continue\n"
        )
        return EXIT_INTERRUPTED
    _close(progress)
    return _finish(args, store, output, total)


def _finish(args: argparse.Namespace, store: Store, output: Path, total: int) -> int:
    """Every item is checkpointed: write the output, mark the store finished (or delete the default one)."""
    failed = _write_output(store, output, total)
    meta = store.get_meta() or {}
    store.set_meta({**meta, "complete": True})  # a store that outlives the run must not pass for an unfinished one
    if args.store is None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(checkpoint_path(output)) + suffix).unlink(missing_ok=True)
    if not args.quiet:
        sys.stderr.write(f"gearshift: wrote {total:,} results to {output} ({failed:,} failed)\n")
    return EXIT_FAILED if failed else EXIT_OK


def _finished_output(output: Path, total: int, input_mtime_ns: int) -> int | None:
    """The failures in ``output`` if it is the complete output of a run over this input, else None.

    Complete: written after the input last changed, one record per item, with
    the indices 0, 1, ... in order (the output appears only once complete).
    """
    try:
        if output.stat().st_mtime_ns < input_mtime_ns:
            return None
        failed = expected = 0
        with output.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                if not isinstance(record, dict) or record.get("index") != expected:
                    return None
                failed += "error" in record
                expected += 1
    except (OSError, ValueError):  # missing, unreadable, not ours
        return None
    return failed if expected == total else None


def _write_output(store: Store, output: Path, total: int) -> int:
    """Write every record in index order to a temporary file, then move it into place; return the failures."""
    tmp = output.with_name(output.name + ".tmp")
    failed = expected = 0
    with tmp.open("w", encoding="utf-8") as out:
        for index, text in store.iter_records():
            if index != expected:
                raise RuntimeError(f"checkpoint is missing item {expected} (found {index}); please report this")
            expected += 1
            if text.startswith(f'{{"index": {index}, "error": '):  # the records' own key order, see above
                failed += 1
            out.write(text)
            out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    if expected != total:
        tmp.unlink()
        raise RuntimeError(f"checkpoint holds {expected} items, the input {total}; please report this")
    os.replace(tmp, output)
    return failed


def _count(store: Store) -> int:
    return len(store.done_indices())


def _where(args: argparse.Namespace, output: Path) -> str:
    return str(args.store or checkpoint_path(output))


def _close(progress: Progress | None) -> None:
    if progress is not None:
        progress.close()


class _Sized:
    """An iterable that knows its length, so the runner can size chunks for it."""

    def __init__(self, items: Any, length: int) -> None:
        self.items, self.length = items, length

    def __iter__(self) -> Any:
        return iter(self.items)

    def __length_hint__(self) -> int:
        return self.length
