"""``lm-course lab``: the command line and config it builds (no server is started here)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lm_course.tooling import cli, lab


def test_learner_config_turns_the_instructor_tools_off(tmp_path):
    folder = lab.write_config(tmp_path / "cfg")
    page = json.loads((folder / "labconfig" / "page_config.json").read_text())
    server = json.loads((folder / "jupyter_server_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(lab.INSTRUCTOR_PLUGINS)
    assert all(page["disabledExtensions"].values())
    assert "@jupyter/nbgrader:formgrader" in page["disabledExtensions"]
    assert "@jupyter/nbgrader:create-assignment" in page["disabledExtensions"]
    # the learner's "Validate" button stays
    assert "@jupyter/nbgrader:validate-assignment" not in page["disabledExtensions"]
    exts = server["ServerApp"]["jpserver_extensions"]
    assert exts == dict.fromkeys(lab.INSTRUCTOR_SERVER_EXTENSIONS, False)
    assert "nbgrader.server_extensions.validate_assignment" not in exts


def test_instructor_config_keeps_them(tmp_path):
    lab.write_config(tmp_path / "cfg")  # a learner's folder first: the switch must undo it
    folder = lab.write_config(tmp_path / "cfg", instructor=True)
    assert not (folder / "labconfig" / "page_config.json").exists()
    assert not (folder / "jupyter_server_config.json").exists()


def test_plugin_names_are_nbgraders():
    # the names must match what nbgrader's lab extension registers, or nothing is disabled
    import nbgrader

    ext = Path(nbgrader.__file__).parent / "labextension" / "static"
    if not ext.is_dir():
        ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    text = "".join(p.read_text(errors="replace") for p in ext.rglob("*.js"))
    if not text:
        pytest.skip("nbgrader's lab extension is not installed here")
    for name in lab.INSTRUCTOR_PLUGINS:
        assert f'"{name}"' in text, name
    for module in lab.INSTRUCTOR_SERVER_EXTENSIONS:
        __import__(module)


@pytest.mark.parametrize("root", [True, False])
def test_command_line(tmp_path, root, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    cmd, env = lab.lab_command("/course", tmp_path / "cfg", tmp_path / "ws",
                               extra=["--port", "8899", "--no-browser"], root=root)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.root_dir=/course" in cmd
    assert f"--LabApp.workspaces_dir={tmp_path / 'ws'}" in cmd
    assert cmd[-3:] == ["--port", "8899", "--no-browser"]  # options passed on as given
    assert ("--allow-root" in cmd) is root
    # our config folder first, the user's own path kept after it
    assert env["JUPYTER_CONFIG_PATH"] == os.pathsep.join([str(tmp_path / "cfg"), "/elsewhere"])


def test_allow_root_not_doubled(tmp_path):
    cmd, _ = lab.lab_command("/c", tmp_path, tmp_path, extra=["--allow-root"], root=True)
    assert cmd.count("--allow-root") == 1


@pytest.mark.parametrize("bad", ["--port 8899", [8899], None])
def test_bad_extra(tmp_path, bad):
    with pytest.raises(TypeError, match="extra="):
        lab.lab_command("/c", tmp_path, tmp_path, extra=bad)


def test_cli_launch_builds_a_fresh_workspace_and_cleans_up(monkeypatch):
    seen = {}

    def fake_call(cmd, env):
        ws = next(a.split("=", 1)[1] for a in cmd if a.startswith("--LabApp.workspaces_dir="))
        cfg = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
        seen.update(cmd=cmd, ws=Path(ws), cfg=cfg,
                    learner=(cfg / "labconfig" / "page_config.json").exists())
        return 0

    monkeypatch.setattr(lab, "_run_forwarding_signals", fake_call)
    assert cli.main(["lab", "--port", "8899"]) == 0
    assert seen["learner"] and seen["cmd"][-2:] == ["--port", "8899"]
    assert not seen["ws"].parent.exists()  # the launch's temporary folder is gone
    assert cli.main(["lab", "--instructor", "--no-browser"]) == 0
    assert not seen["learner"] and "--instructor" not in seen["cmd"]


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_passes_args_through():
    out = subprocess.run(["make", "-n", "lab", "ARGS=--port 8899 --no-browser"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "lm-course lab --port 8899 --no-browser" in out


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None,
                    reason="git or make is not installed")
def test_git_filter_keeps_outputs_out_of_git(tmp_path):
    """The filter `make git-filter` sets up: a notebook run and saved leaves `git diff` empty."""
    import nbformat

    out = subprocess.run(["make", "-n", "git-filter"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    clean = re.search(r"git config filter\.nbstripout\.clean '([^']+)'", out).group(1)
    assert "--keep-id" in clean  # cell ids stay: the stored notebooks are left as they are
    clean = clean.replace(str((ROOT / ".venv" / "bin" / "python").resolve()), sys.executable)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git[:3], "config", "filter.nbstripout.clean", clean], check=True)
    subprocess.run([*git[:3], "config", "filter.nbstripout.required", "true"], check=True)
    shutil.copy(ROOT / ".gitattributes", tmp_path)
    path = tmp_path / "ch.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "P"},
                                            "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# t", id="a"),
                nbformat.v4.new_code_cell("print(1)", id="b")]
    nbformat.write(nb, path)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    # what running and saving it in JupyterLab writes: outputs, counts, timings, language_info
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[1].execution_count = 1
    nb.cells[1].metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    nb.metadata["language_info"].update(version="3.12.0", mimetype="text/x-python",
                                        file_extension=".py", pygments_lexer="ipython3")
    nbformat.write(nb, path)
    assert "outputs" in path.read_text() and '"1\\n"' in path.read_text()
    diff = subprocess.run([*git, "diff", "--stat"], capture_output=True, text=True, check=True)
    assert diff.stdout == "", diff.stdout
    # and a real edit still shows
    nb.cells[1].source = "print(2)"
    nbformat.write(nb, path)
    diff = subprocess.run([*git, "diff", "--stat"], capture_output=True, text=True, check=True)
    assert "ch.ipynb" in diff.stdout
