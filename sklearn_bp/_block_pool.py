"""Blocks of rows evaluated on several threads, their sums added in block order.

A data term's sums over rows are sums over blocks (``_objective.DataTerm``). Handing the blocks
to a few threads, each block's matrix products on one BLAS thread, uses the cores as well as
the BLAS's own threads do on an idle machine, and far better on a busy one: a thread whose core
is taken by another process simply evaluates fewer blocks, where a BLAS splitting every product
into equal parts waits for its slowest part (``docs/performance.rst``). The matrix products and
the element-wise work of the passes release the GIL.

The result does not depend on the number of threads or on which thread evaluated which block,
bit for bit: each block is evaluated by the same statements on its own buffers, and what it
adds to the sums (its loss and its per-layer products) is recorded and added in block order,
exactly as one thread adds them. OpenBLAS's own thread count, by contrast, changes the rounding
of the products (``benchmarks/bench_blas_bits.py``).

The number of threads is set around a fit with :func:`block_workers`; a data term evaluated
outside it uses one thread (the caller's).
"""

import contextlib
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

# The threads a data term of this context (a fit) hands its blocks to, the caller's included.
_WORKERS = contextvars.ContextVar("block_workers", default=1)
_executor = None
_executor_lock = threading.Lock()


@contextlib.contextmanager
def block_workers(count):
    """Evaluate the blocks of the data terms on ``count`` threads inside this context."""
    token = _WORKERS.set(max(1, int(count)))
    try:
        yield
    finally:
        _WORKERS.reset(token)


def workers():
    """The number of threads blocks are evaluated on in this context."""
    return _WORKERS.get()


def _forget_executor():
    """In a forked child: the parent's pool threads are not there, but its executor would
    count them as idle and never start any, and a block handed to it would wait for ever."""
    global _executor, _executor_lock
    _executor = None
    _executor_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor)


def _shared_executor():
    """One pool of threads for every data term of the process, started on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="sklearn_bp-blocks"
            )
        return _executor


class RecordedSums:
    """What one block adds to the sums, kept to be added in block order: the interface of the
    sums objects of ``_passes`` (``add_loss``, ``add``, ``end_block``).

    The recorded arrays are the block's own (its slot's buffers, or arrays the primitives
    allocated), so they stay valid until the slot evaluates another block.
    """

    def __init__(self):
        self.losses = []
        self.adds = []

    def add_loss(self, value):
        self.losses.append(value)

    def add(self, layer, W, b=None):
        self.adds.append((layer, W, b))

    def end_block(self):
        pass

    def replay(self, sums):
        """Add the recorded values to ``sums``, in the order the block added them."""
        for value in self.losses:
            sums.add_loss(value)
        for layer, W, b in self.adds:
            sums.add(layer, W, b)
        sums.end_block()


class OrderedBlocks:
    """Evaluate ``n_blocks`` blocks on up to ``n_threads`` threads; add their sums in order.

    ``evaluate(index, slot, recorded)`` evaluates block ``index`` with the buffers of ``slot``
    (one of ``slots``) and records what it adds in ``recorded``. A slot stays with its block
    until that block's sums are added, so that a thread may run ahead of the order by at most
    the number of slots. Whichever thread completes the next block in order adds it (and any
    completed blocks after it) to ``sums``, under a lock.

    Parameters
    ----------
    slots : list
        Buffers for one block each (workspaces); at least ``n_threads`` of them.
    """

    def __init__(self, slots):
        self.slots = slots

    def run(self, n_blocks, evaluate, sums, n_threads):
        n_threads = max(1, min(n_threads, n_blocks, len(self.slots)))
        self._evaluate, self._sums, self._n_blocks = evaluate, sums, n_blocks
        self._free = list(range(len(self.slots)))[::-1]
        self._next = 0  # the next block to evaluate
        self._added = 0  # blocks added to the sums so far
        self._done = {}  # index -> (slot, recorded) of blocks evaluated but not yet added
        self._failed = False
        self._condition = threading.Condition()
        # Floating-point error handling is per thread: the pool's threads take the caller's.
        errors = np.geterr()
        futures = [_shared_executor().submit(self._work, errors) for _ in range(n_threads - 1)]
        try:
            self._work(errors)
        except BaseException:
            with self._condition:
                self._failed = True
                self._condition.notify_all()
            raise
        finally:
            for future in futures:
                future.cancel()  # not started yet: nothing left for it
            # Every thread lets go of its slot before the slots serve anything else: wait for
            # all of them before the first one's error is raised.
            wait(futures)
            for future in futures:
                if not future.cancelled():
                    future.result()
        return sums

    def _take(self):
        """The next block and a free slot, or None when no block is left."""
        with self._condition:
            while not self._failed and self._next < self._n_blocks and not self._free:
                self._condition.wait()
            if self._failed or self._next >= self._n_blocks:
                return None
            index, slot = self._next, self._free.pop()
            self._next += 1
            return index, slot

    def _work(self, errors):
        with np.errstate(**errors):
            while (taken := self._take()) is not None:
                index, slot = taken
                recorded = RecordedSums()
                try:
                    self._evaluate(index, self.slots[slot], recorded)
                except BaseException:
                    with self._condition:
                        self._failed = True
                        self._condition.notify_all()
                    raise
                self._complete(index, slot, recorded)

    def _complete(self, index, slot, recorded):
        with self._condition:
            self._done[index] = (slot, recorded)
            while self._added in self._done:
                slot, recorded = self._done.pop(self._added)
                recorded.replay(self._sums)
                self._free.append(slot)
                self._added += 1
            self._condition.notify_all()
