"""JupyterLab for the course: a clean lab for learners, nbgrader's tools for instructors.

``lm-course lab`` (and ``make lab``) starts JupyterLab on the repository with three things set:

* **Learners do not see the instructor tools.** nbgrader installs JupyterLab plugins and server
  extensions for everybody: the Formgrader, "Create Assignment", the course and assignment
  lists and an "Nbgrader" menu. For learners they are turned off (only "Validate", which runs
  a notebook's tests, stays); ``lm-course lab --instructor`` keeps them. Nothing is changed in
  the learner's own Jupyter settings: the switch is a config folder written for this launch
  and put first on ``JUPYTER_CONFIG_PATH``.
* **A fresh workspace per launch.** JupyterLab normally reopens every notebook left open last
  time and starts a kernel for each; here the workspace lives in a temporary folder that is
  removed when the lab stops.
* **Root works.** Inside a container you are often root, and Jupyter refuses to start as root
  without ``--allow-root``; it is added when the effective user id is 0.

Every other option goes through to JupyterLab: ``lm-course lab --port 8899 --no-browser`` or
``make lab ARGS="--port 8899 --no-browser"``.

>>> cmd, env = lab_command("/course", "/tmp/cfg", "/tmp/ws", extra=["--no-browser"], root=False)
>>> cmd[1:3], cmd[-1]
(['-m', 'jupyterlab'], '--no-browser')
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# nbgrader's JupyterLab plugins only an instructor needs ("validate-assignment" stays on: it
# is the learner's "Validate" button)
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)
# ... and the server extensions behind them
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
)


def write_config(config_dir: str | os.PathLike, instructor: bool = False) -> Path:
    """Write the lab's config folder (to go first on ``JUPYTER_CONFIG_PATH``); return it.

    For learners it disables :data:`INSTRUCTOR_PLUGINS` (``labconfig/page_config.json``) and
    :data:`INSTRUCTOR_SERVER_EXTENSIONS` (``jupyter_server_config.json``); for instructors the
    folder is left without either file, so nbgrader's own settings apply.
    """
    folder = Path(config_dir)
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    page, server = folder / "labconfig" / "page_config.json", folder / "jupyter_server_config.json"
    if instructor:
        page.unlink(missing_ok=True)
        server.unlink(missing_ok=True)
        return folder
    page.write_text(json.dumps({"disabledExtensions": dict.fromkeys(INSTRUCTOR_PLUGINS, True)},
                               indent=2) + "\n", encoding="utf-8")
    server.write_text(json.dumps({"ServerApp": {"jpserver_extensions": dict.fromkeys(
        INSTRUCTOR_SERVER_EXTENSIONS, False)}}, indent=2) + "\n", encoding="utf-8")
    return folder


def lab_command(root_dir: str | os.PathLike, config_dir: str | os.PathLike,
                workspaces_dir: str | os.PathLike, extra: Sequence[str] = (),
                root: bool | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start JupyterLab on ``root_dir``.

    ``config_dir`` (from :func:`write_config`) goes first on ``JUPYTER_CONFIG_PATH``;
    ``workspaces_dir`` holds this launch's workspace; ``extra`` options are passed on as
    given; ``root`` (default: whether the effective user id is 0) adds ``--allow-root``.
    """
    if (not isinstance(extra, (list, tuple))
            or not all(isinstance(a, str) for a in extra)):
        raise TypeError(f"extra={extra!r} is not a list of strings; expected options such as "
                        f"['--port', '8899']")
    if root is None:
        root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}",
           f"--LabApp.workspaces_dir={workspaces_dir}"]
    if root and "--allow-root" not in extra:
        cmd.append("--allow-root")
    cmd += list(extra)
    env = dict(os.environ)
    rest = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir)] + ([rest] if rest else []))
    return cmd, env


def launch(root_dir: str | os.PathLike, instructor: bool = False,
           extra: Sequence[str] = ()) -> int:
    """Run JupyterLab (see the module doc) until it stops; return its exit code."""
    tmp = Path(tempfile.mkdtemp(prefix="lm-course-lab-"))
    try:
        config = write_config(tmp / "config", instructor=instructor)
        cmd, env = lab_command(root_dir, config, tmp / "workspaces", extra)
        return _run_forwarding_signals(cmd, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_forwarding_signals(cmd: list[str], env: dict[str, str]) -> int:
    """``subprocess.call``, but a SIGTERM/SIGHUP to us stops JupyterLab too (Ctrl-C reaches
    both already), so no server is left running and the temporary folder is removed."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, frame):
        proc.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None))
           if s is not None}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # JupyterLab got the Ctrl-C too and asks to confirm
                continue
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
