"""The async backend's own loop: every task is settled before the loop goes away."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_closing_an_async_imap_early_leaves_no_task_behind() -> None:
    # Closing the iterator cancels the coroutines still in flight; each must see its
    # cancellation (its finally runs) before the loop stops, and none may be dropped
    # pending ("Task was destroyed but it is pending!").
    script = textwrap.dedent(
        """
        import asyncio, gc, gearshift

        finished = []

        async def slow(x):
            try:
                await asyncio.sleep(0.01 if x < 5 else 30)
                return x
            finally:
                finished.append(x)

        it = gearshift.imap(slow, range(200), mode="async", workers=50)
        print([next(it) for _ in range(5)])
        it.close()
        import time
        deadline = time.monotonic() + 10
        while len(finished) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)  # the cancellations run on the loop thread
        gc.collect()
        print(len(finished) >= 50)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0,", "1,", "2,", "3,", "4]", "True"]
    assert "Task was destroyed" not in out.stderr
    assert "never awaited" not in out.stderr
