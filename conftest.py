"""Test-suite settings that must be in place before anything imports torch or starts a kernel.

Quick mode: every notebook (under nbval) and every exercise notebook (under nbgrader) runs
with small data and few steps; their kernels inherit this environment.
"""

import os

os.environ["LM_COURSE_QUICK"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# `make test` runs two pytest workers on two cores, each starting kernels: one thread each
# avoids oversubscription, which makes small torch ops 10-30x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
