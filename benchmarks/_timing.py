"""Timing helpers shared by the benchmarks."""

import statistics
import time


def median_spread(function, repeat):
    """Median, min and max of ``repeat`` timed calls of ``function``, after one warm-up call
    (first calls compile kernels, fill memory pools and caches)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)
