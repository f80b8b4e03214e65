"""The progress display of ``sklearn-bp fit``: the callback of the fit it runs."""

import sys
import time

import numpy as np


class Progress:
    """The fit's progress on stderr: a rich bar in a terminal, else a plain line now and then.

    Called as sklearn-bp's ``callback`` after every iteration. Plain lines go out at the first
    iteration and then at most once every ``every`` seconds; ``close`` prints the last.
    """

    def __init__(self, max_iter, *, quiet=False, every=1.0, stream=None):
        self.max_iter = max_iter
        self.quiet = quiet
        self.every = every
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.last_line = -np.inf
        self.state = None
        self.bar = None
        if quiet:
            return
        try:
            from rich.console import Console
        except ImportError:
            return
        console = Console(file=self.stream)
        if console.is_terminal:
            from rich import progress

            self.bar = progress.Progress(
                progress.TextColumn("fit"),
                progress.BarColumn(),
                progress.TextColumn("iteration {task.completed}/{task.total}"),
                progress.TextColumn("loss {task.fields[loss]}"),
                progress.TimeElapsedColumn(),
                console=console,
            )
            self.task = self.bar.add_task("fit", total=max_iter, loss="-")

    def __deepcopy__(self, memo):
        # scikit-learn's clone deep-copies parameters: the clone reports to the same display.
        return self

    def __call__(self, iteration, loss, gradient_norm, coefs, intercepts):
        elapsed = time.perf_counter() - self.start
        self.state = (iteration, loss, elapsed)
        if self.bar is not None:
            if not self.bar.live.is_started:
                self.bar.start()
            self.bar.update(self.task, completed=min(iteration, self.max_iter), loss=f"{loss:.6g}")
        elif not self.quiet and (iteration == 1 or elapsed - self.last_line >= self.every):
            self._line()
            self.last_line = elapsed
        return False

    def _line(self):
        iteration, loss, elapsed = self.state
        print(
            f"fit: iteration {iteration}/{self.max_iter}, loss {loss:.6g}, {elapsed:.1f} s",
            file=self.stream,
            flush=True,
        )

    def close(self):
        """Stop the bar, or print the last plain line."""
        if self.bar is not None:
            self.bar.stop()
        elif not self.quiet and self.state is not None and self.state[2] != self.last_line:
            self._line()
