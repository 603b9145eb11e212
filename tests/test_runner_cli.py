import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lm_course.tooling import cli, grading, pages, runner


def _nb(path, code):
    nb = new_notebook(cells=[
        new_markdown_cell("# 99 A tiny chapter\n\nA test notebook that prints. More text."),
        new_code_cell(code)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}})
    nbformat.write(nb, path)


def test_run_course_publishes_html_and_an_index_even_when_a_chapter_fails(tmp_path):
    src = tmp_path / "nb"
    src.mkdir()
    _nb(src / "00_ok.ipynb", "import os\nprint('quick =', os.environ['LM_COURSE_QUICK'])")
    _nb(src / "01_broken.ipynb", "raise ValueError('boom')")
    out = tmp_path / "build"
    results = runner.run_course(out, quick=True, folder=src)
    assert [r.name for r in results] == ["00_ok", "01_broken"]
    assert results[0].error is None and "boom" in results[1].error
    executed = nbformat.read(out / "00_ok.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"].strip() == "quick = 1"
    index = (out / "index.html").read_text()
    assert "99 A tiny chapter" in index and "A test notebook that prints." in index
    assert "failed: ValueError: boom" in index and "00_ok.html" in index
    assert (out / "01_broken.html").exists()
    page = (out / "00_ok.html").read_text()
    assert "<title>99 A tiny chapter</title>" in page  # not "Notebook"
    assert pages.off_machine_files(out) == {}  # the folder works offline, e.g. on a USB stick
    assert (out / "assets" / "mathjax" / "MathJax.js").is_file()
    for path in out.rglob("*"):  # build/ is meant to be served and shared
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


def test_describe_and_only():
    nb = new_notebook(cells=[new_markdown_cell(
        "# Title\n\n*A first sentence that is wrapped\nover two lines of Markdown.* Second one."
        "\n\n- a list\n")])
    assert runner.describe(nb) == ("Title", "A first sentence that is wrapped over two lines of "
                                            "Markdown.")
    nb = new_notebook(cells=[new_markdown_cell("# T\n\nShort start. Then **more** about it.\n"
                                               "\nNot this paragraph.")])
    assert runner.describe(nb, min_chars=20) == ("T", "Short start. Then more about it.")
    with pytest.raises(ValueError, match="matches no notebook"):
        runner.chapter_notebooks(only=["zz"])


def test_cli_data_commands(capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "tinyshakespeare" in out and "wordsim353" in out
    assert cli.main(["data", "download", "nope"]) == 2  # one line, closest name suggested
    assert "not a dataset that can be fetched" in capsys.readouterr().err


def test_grading_refuses_what_it_cannot_grade(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an nbgrader course folder"):
        grading.release(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    (tmp_path / "source").mkdir()
    with pytest.raises(FileNotFoundError, match="nothing to grade"):
        grading.grade_all(tmp_path)
    assert cli.main(["grade", "--course", str(tmp_path)]) == 1
    with pytest.raises(ValueError, match="not in"):
        grading.release(tmp_path, ["missing"])


def test_lab_passes_its_options_to_jupyterlab(capfd):
    assert cli.main(["lab", "--version"]) == 0
    assert capfd.readouterr().out.strip()[0].isdigit()  # JupyterLab printed its version
    with pytest.raises(SystemExit):
        cli.main(["data", "list", "--bogus"])
