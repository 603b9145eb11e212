"""The ``lm-course`` command.

    lm-course run [--quick] [--only 00 03] [--out build]   execute the notebooks to build/
    lm-course slides [--only 00 03] [--out build]          reveal.js decks in build/slides/
    lm-course lab [--instructor] [JupyterLab options]      JupyterLab on the course
    lm-course data list                                    the dataset registry
    lm-course data download NAME                           fetch and verify a dataset ahead
    lm-course release                                      nbgrader: student versions
    lm-course grade [--time-limit 300] [--cell-timeout 60] nbgrader: autograde, feedback, CSV
    lm-course check 03 [--notebook my.ipynb]               self-study: run the visible tests
    lm-course train / generate                             (chapter 06-07) train and sample
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys

from lm_course import data
from lm_course.tooling import grading, runner, slides
from lm_course.utils import check_out_dir


def _run(args: argparse.Namespace) -> int:
    try:
        check_out_dir("--out", args.out)
        results = runner.run_course(args.out, quick=args.quick, only=args.only)
    except ValueError as err:  # --only that matches no chapter
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = [r.name for r in results if r.error]
    print(f"\nwrote {args.out}/index.html: {len(results) - len(failed)} of {len(results)} "
          f"chapters ran cleanly")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def _slides(args: argparse.Namespace) -> int:
    try:
        check_out_dir("--out", args.out)
        slides.build_slides(args.out, only=args.only)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _lab(args: argparse.Namespace) -> int:
    from lm_course.tooling import lab

    return lab.launch(runner.ROOT, instructor=args.instructor, extra=args.extra)


def _data_list(args: argparse.Namespace) -> int:
    print(f"{'name':22} {'kind':10} {'size':24} description / source / licence")
    for d in data.list_datasets():
        print(f"{d.name:22} {d.kind:10} {d.size:24} {d.description}")
        if d.kind in ("package", "download"):
            print(f"{'':58} source: {d.source}")
            print(f"{'':58} licence: {d.licence}")
    return 0


def _data_download(args: argparse.Namespace) -> int:
    fetchable = sorted(d.name for d in data.list_datasets() if d.kind in ("package", "download"))
    if args.name not in fetchable:
        close = difflib.get_close_matches(args.name, fetchable, n=1, cutoff=0.0)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"error: {args.name!r} is not a dataset that can be fetched{hint}; expected one "
              f"of {', '.join(fetchable)}", file=sys.stderr)
        return 2
    from lm_course import package_data

    try:
        if data.DATASETS[args.name].kind == "package":
            paths = list(package_data.fetch(args.name))
        else:
            paths = [data.download(args.name)]
    except (ValueError, OSError) as err:  # ConnectionError and PackageDataError are OSErrors
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{args.name}: {path} (sha256 verified)")
    return 0


def _release(args: argparse.Namespace) -> int:
    try:
        paths = grading.release(args.course)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"released {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    def progress(o: grading.Outcome) -> None:
        score = f"{o.total[0]:g}/{o.total[1]:g}" if o.status == "graded" else "0"
        print(f"  {o.student}/{o.assignment}: {score} ({o.status}, {o.seconds:.0f} s)",
              flush=True)

    try:
        out = grading.grade_all(args.course, time_limit=args.time_limit,
                                cell_timeout=args.cell_timeout, progress=progress)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print()
    print((out.parent / "grading-report.txt").read_text(), end="")
    print(f"\nwrote {out}, {out.parent / 'grading-report.txt'} and feedback/ HTML")
    return 0


def _check(args: argparse.Namespace) -> int:
    from lm_course.tooling import selfcheck

    try:
        result = selfcheck.check(args.chapter, notebook=args.notebook, course_dir=args.course,
                                 timeout=args.cell_timeout)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(selfcheck.summary(result), end="")
    return 0 if result.all_passed else 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong flag gives one line (not the whole usage block) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lm-course", description="LM Course command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="execute the notebooks and write build/ (HTML + index)")
    p.add_argument("--quick", action="store_true", help="quick mode (small data, few steps)")
    p.add_argument("--only", nargs="*", help="chapter prefixes to run, e.g. 00 03")
    p.add_argument("--out", default=str(runner.ROOT / "build"), help="output folder")
    p.set_defaults(func=_run)

    p = sub.add_parser("slides", help="reveal.js slide decks of the chapters in build/slides/")
    p.add_argument("--only", nargs="*", help="chapter prefixes, e.g. 00 03")
    p.add_argument("--out", default=str(runner.ROOT / "build"),
                   help="build folder (its executed notebooks are used when up to date)")
    p.set_defaults(func=_slides)

    p = sub.add_parser("lab", help="open JupyterLab on the course (other options go to it)")
    p.add_argument("--instructor", action="store_true",
                   help="keep nbgrader's instructor tools (Formgrader, Create Assignment)")
    p.set_defaults(func=_lab)

    p = sub.add_parser("data", help="list or download datasets")
    dsub = p.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("list", help="the dataset registry").set_defaults(func=_data_list)
    d = dsub.add_parser("download", help="fetch and verify a dataset (package data or URL)")
    d.add_argument("name", help="a package or download dataset, see `lm-course data list`")
    d.set_defaults(func=_data_download)

    for name, func, help_ in [("release", _release, "nbgrader: generate student versions"),
                              ("grade", _grade, "nbgrader: autograde submitted/, feedback, CSV")]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--course", default=str(grading.DEFAULT_COURSE),
                       help="nbgrader course folder")
        p.set_defaults(func=func)
        if name == "grade":
            p.add_argument("--time-limit", type=float, default=300.0,
                           help="seconds for one whole submission (default 300)")
            p.add_argument("--cell-timeout", type=float, default=60.0,
                           help="seconds for one cell (default 60)")

    p = sub.add_parser("check", help="run the visible tests of a released exercise notebook "
                                     "and print the points per exercise")
    p.add_argument("chapter", help="chapter number or assignment name, e.g. 03 or 03_lstm")
    p.add_argument("--notebook", help="your notebook (default: the one in exercises/release/<a>/)")
    p.add_argument("--course", default=str(grading.DEFAULT_COURSE),
                   help="nbgrader course folder")
    p.add_argument("--cell-timeout", type=float, default=60.0, help="seconds for one cell")
    p.set_defaults(func=_check)

    # chapters 06-07 add `train` and `generate`
    if importlib.util.find_spec("lm_course.tooling.cli_lm") is not None:
        from lm_course.tooling import cli_lm

        cli_lm.register(sub)
    # chapter 08f adds `chat`
    if importlib.util.find_spec("lm_course.tooling.cli_chat") is not None:
        from lm_course.tooling import cli_chat

        cli_chat.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lm-course``; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a folder that cannot be written, a full disk: one line, no traceback
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
