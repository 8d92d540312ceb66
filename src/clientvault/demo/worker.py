"""Planning in a second process, so that making rows and writing them use two cores.

The child runs the ``DemoPlanner`` and sends finished batches through a bounded queue (a few
batches ahead at most, to bound memory); the parent writes them. The child is started with
``spawn``: it shares nothing with the parent but the picklable ``PlanConfig`` (no engine, no
key material), and forking a process that may run threads (Rich's progress bar) is unsafe.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue as queue_module
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clientvault.demo.planner import DemoPlanner, PlanConfig, PlannedBatch
from clientvault.errors import ClientVaultError

#: Batches the child may plan ahead of the writer.
AHEAD = 3
_POLL_SECONDS = 1.0


#: The code of the ``ClientVaultError`` raised when the planning process fails or dies.
PLANNER_FAILED = "demo_planner_failed"


def plan_into(config: PlanConfig, outbox: Any) -> None:
    """The child's work: plan every batch and put it on ``outbox``, then ``("done", None)``.

    A failure is reported as ``("error", traceback)`` (the traceback names code, not data).
    """
    gc.disable()  # see generator._gc_paused: the planner only makes short-lived rows
    try:
        for batch in DemoPlanner(config).batches():
            outbox.put(("batch", batch))
        outbox.put(("done", None))
    except BaseException:  # reported to the parent, which raises
        outbox.put(("error", traceback.format_exc()))


@contextmanager
def planned_elsewhere(config: PlanConfig) -> Iterator[Iterator[PlannedBatch]]:
    """The run's batches, planned by a child process; the child is stopped on exit."""
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue(maxsize=AHEAD)
    child = context.Process(
        target=plan_into, args=(config, outbox), name="clientvault-demo-planner", daemon=True
    )
    child.start()
    try:
        yield _receive(outbox, child)
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        outbox.close()
        outbox.cancel_join_thread()


def _receive(outbox: Any, child: Any) -> Iterator[PlannedBatch]:
    while True:
        try:
            kind, payload = outbox.get(timeout=_POLL_SECONDS)
        except queue_module.Empty:
            if not child.is_alive():
                raise ClientVaultError(
                    f"the demo planning process exited unexpectedly (code {child.exitcode})",
                    code=PLANNER_FAILED,
                ) from None
            continue
        if kind == "done":
            return
        if kind == "error":
            raise ClientVaultError(
                "the demo planning process failed", code=PLANNER_FAILED, details={"trace": payload}
            )
        yield payload
