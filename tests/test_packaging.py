"""The install story: one source of truth for versions, and the README's commands are real."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_this_package_with_its_dev_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "lm-course"
    deps = env["dependencies"]
    assert any(str(d).startswith("python") for d in deps) and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip == ["-e .[dev]"]  # versions come only from pyproject.toml
    assert _pyproject()["project"]["name"] == "lm_course"
    assert "dev" in _pyproject()["project"]["optional-dependencies"]


def test_torch_is_a_range_and_the_cli_is_declared():
    project = _pyproject()["project"]
    torch_req = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert ">=" in torch_req and "==" not in torch_req
    assert project["scripts"]["lm-course"] == "lm_course.tooling.cli:main"
    assert project["requires-python"] == ">=3.10"


def test_readme_test_command_is_what_make_test_and_ci_run():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    quick_start = readme.split("## Quick start")[1].split("##")[0]
    assert "make run" in quick_start and "make test" in quick_start
    test_recipe = re.search(r"^test:.*\n\t(.+)$", makefile, re.M).group(1)
    command = test_recipe.replace("$(BIN)/", ".venv/bin/")
    assert command in readme, f"README does not show the test command {command!r}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci and re.search(r"^make test$", ci, re.M)
    for target in ["install", "run", "test", "lab", "release", "grade", "bench", "slides"]:
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"


def test_readme_catalogue_names_every_dataset():
    from lm_course.data import DATASETS

    readme = (ROOT / "README.md").read_text() + (ROOT / "data" / "README.md").read_text()
    for name, info in DATASETS.items():
        assert f"`{name}`" in readme, f"dataset {name} is missing from the README catalogue"
        if info.sha256:
            assert info.sha256 in readme


def test_generated_folders_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for path in [".venv/", "build/", "data/cache/", "exercises/gradebook.db",
                 "exercises/release/", "exercises/submitted/", "exercises/autograded/",
                 "exercises/feedback/", "exercises/grades.csv"]:
        assert path in ignored
