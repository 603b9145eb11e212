"""Test-suite settings that must be in place before anything imports torch or starts a kernel.

Quick mode: every notebook (under nbval) and every exercise notebook (under nbgrader) runs
with small data and few steps; their kernels inherit this environment.
"""

import os

os.environ["LM_COURSE_QUICK"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
