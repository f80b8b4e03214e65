"""What the benchmark reports say about the machine and the code they ran on."""

import functools
import os
import platform
import subprocess
from pathlib import Path

import threadpoolctl


def git_revision():
    """The checked-out commit, with ``-dirty`` when the work tree has changes."""
    try:
        completed = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return completed.stdout.strip()


def cpu_model():
    """The processor's model name, from /proc/cpuinfo where there is one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor()


def load_average():
    """The 1, 5 and 15 minute load averages, as text."""
    return ", ".join(f"{load:.1f}" for load in os.getloadavg())


def _is_numpy_bundled(filepath):
    folder = Path(filepath).parent
    return folder.name == "numpy.libs" or (
        folder.name == ".dylibs" and folder.parent.name == "numpy"
    )


@functools.cache
def numpy_blas():
    """threadpoolctl's handle on the BLAS bundled with numpy (numpy.libs; numpy/.dylibs on
    macOS), the copy whose threads a fit controls; where numpy and scipy share one BLAS (MKL, a
    system OpenBLAS), every BLAS loaded."""
    controller = threadpoolctl.ThreadpoolController()
    paths = [info["filepath"] for info in controller.info() if _is_numpy_bundled(info["filepath"])]
    if not paths:  # numpy and scipy share a BLAS (MKL, a system OpenBLAS): use every one
        paths = [info["filepath"] for info in controller.info() if info["user_api"] == "blas"]
    return controller.select(filepath=paths)
