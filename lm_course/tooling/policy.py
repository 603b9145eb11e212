"""What a graded solution may use, checked by reading the student's code (never running it).

Two kinds of rule, both found with :mod:`ast` in every code cell the student wrote (the
``<ex>-solution`` cells and any cell they added):

* **Sandbox rules**, the same for every exercise: no file system, processes or introspection
  (``open``, ``os``, ``sys``, ``subprocess``, ``exec``, ``__dict__``, ...), no patching of
  modules (``torch.allclose = ...``) and no rebinding of the names the tests rely on (a
  built-in such as ``all``, or a name the notebook's locked cells define such as ``torch`` or
  ``math``). A submission that breaks one is not run at all: it could read the hidden tests
  or make them pass.
* **Library rules**, per exercise: the function the exercise asks you to write may not be
  called from a library (``F.layer_norm`` in the layer-norm exercise), and no exercise may use
  the course package ``lm_course`` (it holds the reference solutions). They are declared in the
  instructor's source notebook, in the solution cell's metadata
  ``{"lm_course": {"forbidden": ["torch.nn.functional.layer_norm", ...]}}``; a hit scores that
  exercise 0 and the others as usual.

A forbidden dotted name is matched through import aliases (``import torch.nn.functional as F;
F.layer_norm``), in ``from`` imports, as a method (``x.logsumexp(1)``) and as a string
(``getattr(torch, "logsumexp")``).

>>> [v.message for v in check_code("import torch\\ny = torch.logsumexp(x, 1)",
...                                  forbidden=["torch.logsumexp"])]
['uses torch.logsumexp (line 2), which this exercise asks you to write yourself']
>>> check_code("def f(x):\\n    return x.softmax(-1)", forbidden=["torch.logsumexp"])
[]
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable
from dataclasses import dataclass

#: Modules a solution may not import: files, processes, the interpreter's internals, the
#: grading tools and the course package (it holds the reference solutions).
SANDBOX_MODULES = frozenset({
    "os", "sys", "pathlib", "glob", "shutil", "subprocess", "io", "sqlite3", "importlib",
    "builtins", "inspect", "ctypes", "gc", "pickle", "marshal", "shelve", "dbm", "socket",
    "signal", "multiprocessing", "threading", "_thread", "runpy", "code", "codeop",
    "zipfile", "tarfile", "tempfile", "fileinput", "mmap", "pty", "resource", "atexit",
    "nbformat", "nbgrader", "nbclient", "nbconvert", "jupyter_client", "IPython", "ipykernel",
    "posix", "nt", "posixpath", "ntpath", "faulthandler", "pwd", "grp", "select", "selectors",
    "asyncio", "concurrent", "platform", "sysconfig", "site", "linecache", "tracemalloc",
    "traceback", "weakref", "urllib", "http", "requests", "ftplib", "webbrowser",
    "_io", "_posixsubprocess", "_ctypes", "_sqlite3", "_pickle", "_signal", "_imp",
})
#: Library rules of every exercise: the course package holds the reference solutions.
ALWAYS_FORBIDDEN = ("lm_course",)
#: Built-in functions a solution may not call or name.
SANDBOX_BUILTINS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "setattr", "delattr", "breakpoint", "input", "exit", "quit", "get_ipython",
})
#: Dotted names outside those modules that still reach files or the interpreter.
SANDBOX_NAMES = frozenset({"torch.load", "torch.save", "torch.hub", "torch.ops",
                           "torch.utils.cpp_extension", "numpy.load", "numpy.save"})
#: Attributes that open the interpreter's internals (``f.__globals__``, ``m.__dict__``).
SANDBOX_ATTRIBUTES = frozenset({
    "__dict__", "__globals__", "__builtins__", "__code__", "__closure__", "__subclasses__",
    "__import__", "__loader__", "__spec__", "__file__", "__getattribute__", "__setattr__",
    "__delattr__", "__bases__", "__mro__", "__reduce__", "__reduce_ex__", "__self__",
    "__func__", "__module__", "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame",
})
#: Strings that only a program reaching for the sandbox's names would spell
#: (``getattr(obj, "exec")``); common words such as "open" or "select" stay allowed.
_SANDBOX_STRINGS = frozenset({"exec", "eval", "__import__", "globals", "locals", "setattr",
                              "delattr", "os", "sys", "subprocess", "builtins", "importlib",
                              "posix", "ctypes", "system", "popen"})
_BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))


@dataclass(frozen=True)
class Violation:
    """One rule broken: ``kind`` is ``"sandbox"`` or ``"library"``; ``message`` says where."""

    kind: str
    message: str
    line: int


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything that is not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def imported_names(tree: ast.AST) -> dict[str, str]:
    """``{local name: dotted path}`` for every import in ``tree`` (at any depth)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _module_bindings(tree: ast.Module) -> list[tuple[str, int, ast.AST]]:
    """Names bound at module scope (assignments, defs, imports, loop targets, ``global``)."""
    out: list[tuple[str, int, ast.AST]] = []

    def targets(t: ast.AST, stmt: ast.AST) -> None:
        if isinstance(t, ast.Name):
            out.append((t.id, t.lineno, stmt))
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                targets(e, stmt)
        elif isinstance(t, ast.Starred):
            targets(t.value, stmt)

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.append((s.name, s.lineno, s))
                for inner in ast.walk(s):  # `global x` inside a function rebinds module x
                    if isinstance(inner, ast.Global):
                        out.extend((n, inner.lineno, inner) for n in inner.names)
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    targets(t, s)
            elif isinstance(s, (ast.AugAssign, ast.AnnAssign)):
                targets(s.target, s)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target, s)
                visit(s.body + s.orelse)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars, s)
                visit(s.body)
            elif isinstance(s, (ast.If, ast.While)):
                visit(s.body + s.orelse)
            elif isinstance(s, ast.Try):
                for h in s.handlers:
                    if h.name:
                        out.append((h.name, h.lineno, h))
                    visit(h.body)
                visit(s.body + s.orelse + s.finalbody)
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for a in s.names:
                    name = a.asname or a.name.split(".")[0]
                    out.append((name, s.lineno, s))
            for node in ast.walk(s):  # walrus at module scope
                if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                    out.append((node.target.id, node.lineno, node))
    visit(tree.body)
    return out


def _matches(path: str, rules: Iterable[str]) -> str | None:
    for rule in rules:
        if path == rule or path.startswith(rule + "."):
            return rule
    return None


def check_code(code: str, forbidden: Iterable[str] = (),
               protected: dict[str, str] | None = None, sandbox: bool = True) -> list[Violation]:
    """The rules ``code`` breaks (empty list: none).

    ``forbidden``: the exercise's library rules (dotted names). ``protected``: names the
    locked cells bind, ``{name: dotted path it is imported as}`` (``""`` when it is not an
    import), which the code may not rebind except by the same import. ``sandbox=False`` turns
    the sandbox rules off (for tests of the other defences).
    """
    forbidden = [f.strip() for f in (*ALWAYS_FORBIDDEN, *forbidden) if f.strip()]
    protected = dict(protected or {})
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []  # the kernel reports it, and the exercise scores 0 on its own
    found: list[Violation] = []

    def add(kind: str, message: str, line: int) -> None:
        v = Violation(kind, message, line)
        if v not in found:
            found.append(v)

    aliases = {**{k: v for k, v in protected.items() if v}, **imported_names(tree)}
    for node in ast.walk(tree):  # `T = torch.Tensor` makes T another name for it
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            chain = _dotted(node.value)
            if chain and chain[0] in aliases:
                aliases[node.targets[0].id] = ".".join([aliases[chain[0]], *chain[1:]])
    last_names = {f.rsplit(".", 1)[-1]: f for f in forbidden}

    def check_path(path: str, line: int) -> bool:
        top = path.split(".")[0]
        if sandbox and top in SANDBOX_MODULES:
            add("sandbox", f"uses {path} (line {line}): solutions may not use the {top} "
                           f"module", line)
        elif sandbox and _matches(path, SANDBOX_NAMES):
            add("sandbox", f"uses {path} (line {line}): solutions may not read or write "
                           f"files", line)
        rule = _matches(path, forbidden)
        if rule in ALWAYS_FORBIDDEN:
            add("library", f"uses {path} (line {line}): the course package holds the reference "
                           f"solutions, so no exercise may use it", line)
        elif rule:
            add("library", f"uses {path} (line {line}), which this exercise asks you to "
                           f"write yourself", line)
        return bool(rule)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for a in node.names:
                check_path(a.name, line)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if sandbox:
                    add("sandbox", f"relative import (line {line})", line)
                continue
            for a in node.names:
                check_path(f"{node.module}.{a.name}" if a.name != "*" else node.module, line)
        elif isinstance(node, ast.Attribute):
            chain, hit = _dotted(node), False
            if chain and not isinstance(getattr(node, "ctx", None), ast.Store):
                if chain[0] in aliases:
                    hit = check_path(".".join([aliases[chain[0]], *chain[1:]]), line)
            if sandbox and node.attr in SANDBOX_ATTRIBUTES:
                add("sandbox", f"uses .{node.attr} (line {line}): solutions may not reach "
                               f"into the interpreter", line)
            if node.attr in last_names and not hit:
                rule = last_names[node.attr]
                add("library", f"uses .{node.attr} (line {line}), that is {rule}, which this "
                               f"exercise asks you to write yourself", line)
        elif isinstance(node, ast.Name):
            if sandbox and node.id in SANDBOX_BUILTINS:
                add("sandbox", f"uses {node.id} (line {line}): solutions may not use it", line)
            elif sandbox and node.id in ("__builtins__", "__loader__", "__spec__", "__file__"):
                add("sandbox", f"uses {node.id} (line {line}): solutions may not reach into "
                               f"the interpreter", line)
            elif node.id in aliases and aliases[node.id] != node.id:
                check_path(aliases[node.id], line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text in last_names or _matches(text, forbidden):
                add("library", f"names {text!r} (line {line}), which this exercise asks you "
                               f"to write yourself", line)
            elif sandbox and (text in _SANDBOX_STRINGS or text in SANDBOX_ATTRIBUTES):
                add("sandbox", f"names {text!r} (line {line}): solutions may not use it", line)
        # patching a module or a protected object: `torch.allclose = ...`, `del math.isclose`
        if sandbox and isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            tlist = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in tlist:
                for sub in ast.walk(t):
                    if isinstance(sub, (ast.Attribute, ast.Subscript)):
                        root = sub
                        while isinstance(root, (ast.Attribute, ast.Subscript)):
                            root = root.value
                        dunder = (isinstance(sub, ast.Attribute) and sub.attr.startswith("__")
                                  and sub.attr.endswith("__"))
                        if dunder or isinstance(root, ast.Name) and (root.id in aliases
                                                                     or root.id in protected):
                            add("sandbox", f"changes {ast.unparse(sub)} (line {line}): "
                                           f"solutions may not patch a module or a name the "
                                           f"tests use", line)
    if sandbox and isinstance(tree, ast.Module):
        for name, line, stmt in _module_bindings(tree):
            if name in protected:
                same_import = (isinstance(stmt, (ast.Import, ast.ImportFrom))
                               and imported_names(stmt).get(name) == protected[name]
                               and protected[name])
                if not same_import:
                    add("sandbox", f"rebinds {name} (line {line}), which the notebook's "
                                   f"locked cells define and the tests use", line)
            elif name in _BUILTIN_NAMES:
                add("sandbox", f"rebinds the built-in {name} (line {line}), which the tests "
                               f"use", line)
    return sorted(found, key=lambda v: (v.line, v.kind, v.message))


def locked_names(codes: Iterable[str]) -> dict[str, str]:
    """``{name: dotted import path or ""}`` bound at module scope by the given (locked) cells."""
    out: dict[str, str] = {}
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        imports = imported_names(ast.Module(body=[s for s in tree.body
                                                  if isinstance(s, (ast.Import, ast.ImportFrom))],
                                            type_ignores=[]))
        for name, _, stmt in _module_bindings(tree):
            if not name.startswith("_"):  # private test helpers are the tests' own business
                out[name] = imports.get(name, "") if isinstance(
                    stmt, (ast.Import, ast.ImportFrom)) else ""
    return out
