"""Settings for the whole test session, applied before any test module imports NumPy.

One BLAS thread, as in the kernels that grade (``autograder.course.nbgrader_env``): the speed cases
compare a vectorised function with Python loops, and a multi-threaded BLAS on a busy machine makes that
ratio swing with the load of the moment.

The notebooks' long experiments (week 2's MNIST run) use their small budget, ``DLFS_BUDGET=small``: fewer
epochs and images through the same code. Hidden cases do not read it; they train on budgets of their own.
"""

import os
import sys

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

if "numpy" in sys.modules:  # too late: the thread count is read when NumPy loads its BLAS
    raise RuntimeError("NumPy was imported before tests/conftest.py could limit BLAS to one thread")
for _name in BLAS_THREADS:
    os.environ[_name] = "1"

os.environ.setdefault("DLFS_BUDGET", "small")
