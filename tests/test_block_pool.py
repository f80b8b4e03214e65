"""Blocks of rows on several threads (``_block_pool``): sums added in block order, the same bits
for every number of threads, errors and floating-point settings carried across threads."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse

from sklearn_bp import _block_pool
from sklearn_bp._block_pool import OrderedBlocks, block_workers, workers
from sklearn_bp._losses import CLASSIFIER_LOSSES
from sklearn_bp._network import Network
from sklearn_bp._objective import BackpropObjective, DataTerm


class Ledger:
    """A sums object that writes down every call, in the order it came."""

    def __init__(self):
        self.calls = []

    def add_loss(self, value):
        self.calls.append(("loss", value))

    def add(self, layer, W, b=None):
        self.calls.append(("add", layer, W))

    def end_block(self):
        self.calls.append(("end",))


@pytest.mark.parametrize("n_threads", [1, 2, 3, 4])
def test_blocks_are_added_in_block_order_however_they_finish(n_threads):
    # Later blocks finish first (shorter sleeps): their sums must still come after.
    n_blocks = 9
    in_use, overlaps, lock = set(), [], threading.Lock()

    def evaluate(index, slot, recorded):
        with lock:
            overlaps.append(slot in in_use)
            in_use.add(slot)
        time.sleep(0.002 * (n_blocks - index))
        recorded.add_loss(float(index))
        recorded.add(0, np.full(2, index))
        recorded.add(1, np.full(2, -index))
        with lock:
            in_use.remove(slot)

    ledger = Ledger()
    slots = [f"slot {i}" for i in range(2 * n_threads)]
    OrderedBlocks(slots).run(n_blocks, evaluate, ledger, n_threads)
    expected = []
    for index in range(n_blocks):
        expected += [("loss", float(index)), ("add", 0, index), ("add", 1, -index), ("end",)]
    seen = [call if call[0] != "add" else (*call[:2], int(call[2][0])) for call in ledger.calls]
    assert seen == expected
    assert not any(overlaps)  # no slot served two blocks at once


def test_blocks_run_on_several_threads_at_once():
    # With two threads two blocks are in flight together: each waits for the other to start.
    barrier = threading.Barrier(2, timeout=10)
    threads = set()

    def evaluate(index, slot, recorded):
        threads.add(threading.get_ident())
        if index < 2:
            barrier.wait()

    OrderedBlocks(list(range(4))).run(4, evaluate, Ledger(), 2)
    assert len(threads) == 2


def test_an_error_in_a_block_reaches_the_caller_and_the_pool_runs_again():
    def failing(index, slot, recorded):
        if index == 3:
            raise ValueError("block 3 failed")

    pool = OrderedBlocks(list(range(4)))
    with pytest.raises(ValueError, match="block 3 failed"):
        pool.run(8, failing, Ledger(), 2)
    ledger = Ledger()
    pool.run(3, lambda index, slot, recorded: recorded.add_loss(index), ledger, 2)
    assert [call[1] for call in ledger.calls if call[0] == "loss"] == [0, 1, 2]


def test_the_threads_take_the_callers_floating_point_settings():
    seen = []

    def evaluate(index, slot, recorded):
        seen.append(np.geterr()["over"])

    with np.errstate(over="ignore"):
        OrderedBlocks(list(range(4))).run(6, evaluate, Ledger(), 2)
    assert seen == ["ignore"] * 6


def test_block_workers_sets_the_count_for_its_context_only():
    assert workers() == 1
    with block_workers(3):
        assert workers() == 3
        seen = []
        thread = threading.Thread(target=lambda: seen.append(workers()))
        thread.start()
        thread.join()
        assert seen == [1]  # another thread (another fit) keeps its own
    assert workers() == 1


def weighted_problem(n_samples, layer_sizes, out_activation, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, layer_sizes[0])).astype(dtype)
    n_outputs = layer_sizes[-1]
    if out_activation == "softmax":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    else:
        Y = rng.randint(2, size=(n_samples, n_outputs))
    weight = rng.uniform(0.1, 3.0, size=n_samples)
    return X, Y.astype(dtype), weight.astype(dtype)


def evaluations(objective, theta, v):
    loss, gradient = objective.loss_gradient(theta)
    return [
        np.array([loss, objective.loss(theta)]),
        gradient,
        objective.hessian_vector_product(theta, v),
        objective.gauss_newton_vector_product(theta, v),
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix])
def test_every_thread_count_gives_the_same_bits(dtype, out_activation, container):
    layer_sizes = (6, 7, 5, 3)
    X, Y, weight = weighted_problem(103, layer_sizes, out_activation, dtype)
    network = Network(layer_sizes, "tanh")
    # Blocks of 10 rows: 11 blocks, the last one short.
    data = DataTerm(network, CLASSIFIER_LOSSES[out_activation], container(X), Y, weight, 10)
    objective = BackpropObjective(data, 0.3)
    rng = np.random.RandomState(1)
    theta, v = network.initial_theta(rng), rng.normal(size=network.n_params)

    one = evaluations(objective, theta, v)
    for count in (2, 3, 4):
        with block_workers(count):
            many = evaluations(objective, theta, v)
        for expected, result in zip(one, many):
            assert np.array_equal(result, expected)

    # And the value itself: that of one block of all rows, up to rounding.
    whole = BackpropObjective(
        DataTerm(network, CLASSIFIER_LOSSES[out_activation], X, Y, weight, 103), 0.3
    )
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for expected, result in zip(evaluations(whole, theta, v), one):
        assert_allclose(result, expected, rtol=rtol, atol=rtol * 1e-3)


def test_blocks_in_flight_stay_within_working_memory():
    from sklearn import config_context

    layer_sizes = (50, 64, 10)
    X, Y, weight = weighted_problem(6000, layer_sizes, "softmax", np.float64)
    network = Network(layer_sizes)
    data = DataTerm(network, CLASSIFIER_LOSSES["softmax"], X, Y, weight, 1000)
    theta = network.initial_theta(np.random.RandomState(0))
    gradient = np.empty_like(theta)
    per_block = 3 * 8 * (64 + 10) * 1000  # activations, deltas and scratch
    # Room for 4 blocks: two threads, two slots each.
    with config_context(working_memory=4.5 * per_block / 2**20), block_workers(2):
        data.loss_gradient_sum(theta, gradient)
    assert len(data._slots) == 4
    # Room for 3 blocks: two threads, one of them with a block ahead.
    data = DataTerm(network, CLASSIFIER_LOSSES["softmax"], X, Y, weight, 1000)
    with config_context(working_memory=3.5 * per_block / 2**20), block_workers(2):
        data.loss_gradient_sum(theta, gradient)
    assert len(data._slots) == 3
    # Room for 1 block: one thread, blocks in order, in the one slot it always had.
    data = DataTerm(network, CLASSIFIER_LOSSES["softmax"], X, Y, weight, 1000)
    with config_context(working_memory=1.5 * per_block / 2**20), block_workers(2):
        data.loss_gradient_sum(theta, gradient)
    assert len(data._slots) == 1


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two threads in the pool")
def test_an_error_reaches_the_caller_only_once_every_thread_has_let_go_of_its_slot(monkeypatch):
    # The first pool thread's block fails at once while the second's is still running: the
    # error must not reach the caller (who may evaluate on the same slots again) before the
    # second thread is done with its slot.
    executor = _block_pool._shared_executor()
    role = threading.local()

    class Numbered:
        """The shared executor, each submitted task told its number."""

        count = 0

        def submit(self, fn, *args):
            number, Numbered.count = Numbered.count, Numbered.count + 1

            def numbered():
                role.number = number
                return fn(*args)

            return executor.submit(numbered)

    monkeypatch.setattr(_block_pool, "_shared_executor", Numbered)
    started = threading.Barrier(3, timeout=10)
    running = []

    def evaluate(index, slot, recorded):
        if index < 3:
            started.wait()  # the caller and both pool threads each hold a block
        number = getattr(role, "number", None)
        if number == 0:
            raise ValueError("the first thread's block failed")
        if number == 1:
            running.append(slot)
            time.sleep(0.3)
            running.remove(slot)

    with pytest.raises(ValueError, match="the first thread's block failed"):
        OrderedBlocks(list(range(6))).run(6, evaluate, Ledger(), 3)
    assert running == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_evaluates_its_blocks_on_threads_of_its_own():
    # The parent's executor, inherited by a forked child (multiprocessing's "fork"), counted
    # the parent's threads as idle: the child's blocks were handed to threads that do not
    # exist there, and the child waited for them for ever.
    script = textwrap.dedent(
        """
        import faulthandler, os, threading
        from sklearn_bp._block_pool import OrderedBlocks

        class Sums:
            def add_loss(self, value): pass
            def add(self, layer, W, b=None): pass
            def end_block(self): pass

        def run():
            barrier = threading.Barrier(2, timeout=20)
            threads = set()
            def evaluate(index, slot, recorded):
                threads.add(threading.get_ident())
                if index < 2:
                    barrier.wait()
            OrderedBlocks(list(range(4))).run(6, evaluate, Sums(), 2)
            return len(threads)

        assert run() == 2
        pid = os.fork()
        if pid == 0:
            faulthandler.dump_traceback_later(30, exit=True)  # a hung child ends
            os._exit(0 if run() == 2 else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("ok")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=environment
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
