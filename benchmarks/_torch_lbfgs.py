"""``torch.optim.LBFGS`` on our J: the contender the benchmarks share (imported only where
PyTorch is installed)."""

import time

import torch


def run_torch_lbfgs(params, J, iterations, expected_start, tolerance, max_eval=None):
    """Run ``torch.optim.LBFGS`` (history 10, strong Wolfe line search, ``lr=1``, tolerances
    0) on ``J()`` over ``params`` for ``iterations`` iterations, after checking that J at the
    start is ``expected_start`` (ours) to the relative ``tolerance``.

    Returns the seconds of its ``step`` and its state (``n_iter``, ``func_evals``).
    """
    optimizer = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=iterations,
        max_eval=max_eval,
        history_size=10,
        tolerance_grad=0,
        tolerance_change=0,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = J()
        loss.backward()
        return loss

    with torch.no_grad():
        start_J = float(J())
    assert abs(start_J - expected_start) <= tolerance * abs(expected_start), (
        f"not the same J: {start_J} {expected_start}"
    )
    start = time.perf_counter()
    optimizer.step(closure)
    seconds = time.perf_counter() - start
    return seconds, optimizer.state[optimizer._params[0]]
