"""dlfs: the small library of the course Deep Learning From Scratch.

What students import: data loaders (:mod:`dlfs.data`), plots (:mod:`dlfs.plotting`), small numerics
(:mod:`dlfs.numerics`) and the visible checks of each week (:mod:`dlfs.checks`). It holds no graded
answer: the reference implementations live with the instructor, in ``autograder/``.
"""

from dlfs._display import register_in_running_shell
from dlfs.memory import keep_freed_memory
from dlfs.numerics import rel_error

__version__ = "0.1.0"
__all__ = ["rel_error"]

# In IPython and Jupyter, a failed visible check shows its message, not the library's frames (dlfs._display).
register_in_running_shell()

# Large temporaries freed by one training step are kept for the next, not faulted in again page by page
# (dlfs.memory: a convolution layer's step was up to 1.7x slower without it here). DLFS_MALLOC=glibc opts out.
keep_freed_memory()
