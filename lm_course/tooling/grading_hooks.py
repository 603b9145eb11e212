"""The nbgrader preprocessors the grader plugs in (see ``grading.py``).

* :class:`TimedExecute` is nbgrader's ``Execute`` with a time limit for the whole notebook,
  counted from its first cell (so a slow start on a busy machine costs nothing): each cell may
  run for its own timeout or what is left, whichever is shorter, and once the time is up the
  remaining cells are not run but get a ``SubmissionTimeLimit`` error (0 points). A kernel
  that does not answer even after the interrupt (a loop that catches ``KeyboardInterrupt``)
  stops the run the same way, instead of costing a timeout per remaining cell or failing.
* :class:`CapOutputs` runs after execution and again before feedback: every output is cut to
  ``max_chars`` characters, so a solution that prints 50 MB on one line makes neither a 50 MB
  graded notebook nor a 50 MB feedback page (nbgrader's own ``LimitOutput`` counts lines only).
* :class:`HiddenTestResults` runs before nbgrader's ``ClearHiddenTests`` in feedback: a hidden
  test cell shows the student its score and the error's type and message (the message is the
  feedback its author wrote), never its traceback, printed output or source.

This module imports nbgrader, so only nbgrader's own processes import it.
"""

from __future__ import annotations

import math
import time

from nbclient.exceptions import CellTimeoutError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Integer

HIDDEN_MARK = "BEGIN HIDDEN TESTS"
TIME_LIMIT_ERROR = "SubmissionTimeLimit"


class TimedExecute(Execute):
    """``Execute`` with ``notebook_timeout`` seconds for all cells together."""

    notebook_timeout = Float(300.0, help="seconds for the whole notebook, from its first cell"
                             ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = None
        return super().preprocess(nb, resources, km=km)

    def _left(self) -> float:
        if getattr(self, "_deadline", None) is None:
            self._deadline = time.monotonic() + self.notebook_timeout
        return self._deadline - time.monotonic()

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        left = max(1, math.ceil(self._left()))
        return left if timeout is None else min(timeout, left)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and self._left() <= 0:
            cell.outputs = [new_output(
                "error", ename=TIME_LIMIT_ERROR,
                evalue=f"not run: the notebook used up its {self.notebook_timeout:g} s "
                       f"(the whole-submission limit)",
                traceback=[f"{TIME_LIMIT_ERROR}: not run, the notebook used up its "
                           f"{self.notebook_timeout:g} s"])]
            cell.execution_count = None
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:  # no answer even after the interrupt: run nothing more
            self._deadline = time.monotonic()
            why = ("the kernel did not answer after it was interrupted (a loop that catches "
                   "KeyboardInterrupt?); the cells after this one were not run")
            cell.outputs.append(new_output("error", ename=TIME_LIMIT_ERROR, evalue=why,
                                           traceback=[f"{TIME_LIMIT_ERROR}: {why}"]))
            return cell, resources


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... output cut: {len(text) - limit:,} more characters ..."


class CapOutputs(NbGraderPreprocessor):
    """Cut every text output of a code cell to ``max_chars``; drop rich outputs past that."""

    max_chars = Integer(10_000, help="characters kept per output (stream, result, error)"
                        ).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        limit, kept = self.max_chars, []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text = out.text if isinstance(out.text, str) else "".join(out.text)
                out.text = _cut(text, limit)
            elif out.output_type == "error":
                out.evalue = _cut(str(out.evalue), limit)
                tb, total = [], 0
                for line in out.traceback:
                    total += len(line)
                    if total > limit:
                        tb.append("... traceback cut ...")
                        break
                    tb.append(line)
                out.traceback = tb
            else:  # execute_result / display_data
                data = out.get("data", {})
                for mime in list(data):
                    value = data[mime]
                    text = value if isinstance(value, str) else "".join(value)
                    if len(text) > limit:
                        if mime == "text/plain":
                            data[mime] = _cut(text, limit)
                        else:  # a huge picture or HTML page: keep the plain-text view only
                            del data[mime]
                if not data:
                    data["text/plain"] = "... output removed: too large ..."
            kept.append(out)
        cell.outputs = kept
        return cell, resources


class HiddenTestResults(NbGraderPreprocessor):
    """In a hidden-test cell keep only the error type and message of its outputs."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or HIDDEN_MARK not in cell.source:
            return cell, resources
        kept = []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                out.traceback = [f"{out.ename}: {out.evalue}"]
                kept.append(out)
        cell.outputs = kept
        return cell, resources
