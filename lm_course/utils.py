"""Small helpers every chapter uses: seeding, devices, parameter counts, quick mode,
argument checks that give clear error messages, and atomic file writes.

>>> set_seed(0)
>>> count_parameters(torch.nn.Linear(3, 2))
8
>>> scaled(full=10_000, quick=100) in (100, 10_000)
True
"""

from __future__ import annotations

import difflib
import os
import random
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

QUICK_ENV = "LM_COURSE_QUICK"


# ----------------------------------------------------------------------------- reproducibility


def set_seed(seed: int = 1337) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (CPU and all GPUs).

    Run it at the top of a notebook and the notebook gives the same numbers on every run.
    """
    check_int("seed", seed, min_value=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: ``prefer`` if given, else CUDA, then Apple MPS, then CPU.

    The course runs on the CPU; a GPU only makes the full runs faster.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if prefer is not None:
        if not isinstance(prefer, str):
            raise TypeError(f"prefer must be a device name such as 'cpu' or 'cuda', got {prefer!r}")
        try:
            device = torch.device(prefer)
        except RuntimeError as err:
            raise ValueError(
                f"prefer={prefer!r} is not a device name; expected 'cpu', 'cuda' or 'mps'"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"prefer={prefer!r}: no CUDA device is available; use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"prefer={prefer!r}: no Apple MPS device is available; use 'cpu'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``; shared tensors count once."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def module_device(name: str, model: Any) -> torch.device:
    """The device of ``model``'s parameters; a clear error if it is no module or has none.

    >>> module_device("model", torch.nn.Identity())
    Traceback (most recent call last):
    ...
    ValueError: model has no parameters (got Identity); pass the model to train or run
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    for p in model.parameters():
        return p.device
    raise ValueError(f"{name} has no parameters (got {type(model).__name__}); "
                     f"pass the model to train or run")


# ----------------------------------------------------------------------------- quick mode


def quick_mode() -> bool:
    """True when ``LM_COURSE_QUICK`` is set to 1/true/yes (the test suite sets it).

    Quick mode runs every notebook with small data and few steps, so the whole course
    executes in minutes on two CPU cores; the full run is the same code with bigger numbers.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def scaled(full: Any, quick: Any) -> Any:
    """``quick`` in quick mode, else ``full``: ``steps = scaled(full=5000, quick=200)``."""
    return quick if quick_mode() else full


# ----------------------------------------------------------------------------- files


def temp_name(path: str | os.PathLike) -> str:
    """The prefix of this process's temporary files for ``path``: ``.NAME.tmp-PID``.

    Every atomic writer of the package names its temporary file this way, so that
    :func:`remove_stale_temp_files` can tell a dead writer's leftovers from a live one's.
    """
    return f".{Path(path).name}.tmp-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """True if a process with this id runs on this machine (or if that cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or an id the OS cannot even hold
    return True


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of ``path`` left by writers that were killed mid-write.

    A killed ``save`` leaves ``.NAME.tmp-PID...`` (often full size) beside ``path``; only
    files whose process ``PID`` is no longer alive are removed, so a writer that is still
    running is never disturbed. Returns the removed paths.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".ckpt.pt.tmp-999999999").write_bytes(b"half a checkpoint")
    >>> [p.name for p in remove_stale_temp_files(folder / "ckpt.pt")]
    ['.ckpt.pt.tmp-999999999']
    """
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.tmp-") + r"(\d+)(?:\D.*)?")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for p in candidates:
        m = pattern.fullmatch(p.name)
        if m and not pid_alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass  # not ours to remove (permissions): leave it
    return removed


def write_text_atomic(path: str | os.PathLike, text: str, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half.

    The text goes to a temporary file in the same folder, which is then renamed over
    ``path`` (a rename within one filesystem is atomic). On any error the temporary file is
    removed and ``path`` is untouched; leftovers of writers killed earlier are removed
    first (:func:`remove_stale_temp_files`). The result has ordinary ``0644`` permissions.

    >>> import tempfile
    >>> p = write_text_atomic(Path(tempfile.mkdtemp()) / "a.txt", "hello")
    >>> p.read_text()
    'hello'
    """
    path = Path(path)
    remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_name(path) + "-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary, shareable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_out_dir(name: str, path: Any) -> Path:
    """Raise unless ``path`` can be a folder to write into: it is a folder already, or it
    can be made (no regular file on the way, and the nearest existing folder is writable).

    Nothing is created; the check names ``name`` (an argument or a command-line flag).

    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = file.write_text("not a folder")
    >>> check_out_dir("--out", file / "run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out=.../notes.txt/run cannot be a folder: ... is a file; choose another folder
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    if str(path) == "":
        raise ValueError(f"{name} must not be empty")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}={path} is an existing file, not a folder; "
                         f"choose another folder")
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{name}={path} cannot be a folder: {parent} is a file; "
                         f"choose another folder")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={path}: cannot write in {parent} (permission denied); "
                         f"choose a folder you can write to")
    return path


def check_file(name: str, path: Any) -> Path:
    """Raise unless ``path`` names an existing regular file (a clear error, not ``OSError``).

    >>> check_file("--checkpoint", "/no/such/ckpt.pt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --checkpoint=/no/such/ckpt.pt does not exist
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{name}={path} does not exist")
    if not path.is_file():
        raise ValueError(f"{name}={path} is not a file")
    return path


# ----------------------------------------------------------------------------- argument checks
# One wording for every user error in the package: the argument, the value, what was expected.
# NaN: every number checked here must be finite (a NaN learning rate or temperature is
# refused). Tensors are not scanned for NaN on every forward pass (that would cost a sync
# per layer); instead NaN is caught where it decides something: the training loop stops on
# a non-finite loss or gradient norm, and sampling and scoring refuse NaN logits.


def check_int(name: str, value: Any, *, min_value: int | None = None,
              max_value: int | None = None) -> int:
    """Raise unless ``value`` is an int (not a bool) within ``[min_value, max_value]``.

    >>> check_int("window", 2, min_value=1)
    2
    >>> check_int("window", 0, min_value=1)
    Traceback (most recent call last):
    ...
    ValueError: window must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return int(value)


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Raise unless ``value`` is a finite real number in the given interval.

    >>> check_float("top_p", 0.9, low=0.0, high=1.0, low_inclusive=False)
    0.9
    >>> check_float("top_p", 0.0, low=0.0, high=1.0, low_inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: top_p must be in (0.0, 1.0], got 0.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        left = ("[" if low_inclusive else "(") + (f"{low}" if low is not None else "-inf")
        right = (f"{high}" if high is not None else "inf") + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {left}, {right}, got {value}")
    return value


def suggest(value: Any, choices: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a mistyped name, else ``""``.

    >>> suggest("char_cpu", ["tiny", "char-cpu", "char-medium"])
    " (did you mean 'char-cpu'?)"
    """
    if not isinstance(value, str):
        return ""
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in names}
        close = [lowered[value.lower()]] if value.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Raise unless ``value`` is one of ``choices``; a near miss names the closest one.

    >>> check_choice("nonlinearity", "tanh", ["tanh", "relu"])
    'tanh'
    >>> check_choice("nonlinearity", "rleu", ["tanh", "relu"])
    Traceback (most recent call last):
    ...
    ValueError: nonlinearity must be one of ['tanh', 'relu'], got 'rleu' (did you mean 'relu'?)
    """
    choices = list(choices)
    try:
        ok = value in choices
    except TypeError:  # e.g. an unhashable value against dict keys
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}"
                         f"{suggest(value, choices)}")
    return value


def check_tensor(name: str, value: Any, *, ndim: int | Iterable[int] | None = None,
                 floating: bool | None = None, integer: bool | None = None) -> torch.Tensor:
    """Raise unless ``value`` is a tensor with the given number of dims and dtype kind.

    >>> check_tensor("x", torch.zeros(2, 3), ndim=2, floating=True).shape
    torch.Size([2, 3])
    >>> check_tensor("idx", torch.zeros(2, 3), integer=True)
    Traceback (most recent call last):
    ...
    TypeError: idx must be an integer tensor of token ids, got dtype torch.float32
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape {tuple(value.shape)}"
            )
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if integer and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {value.dtype}")
    return value


def check_mask(name: str, mask: Any, t_q: int, t_k: int) -> torch.Tensor | None:
    """Raise unless ``mask`` is ``None``, a boolean mask (True = may attend) or a float bias,
    broadcastable to (..., t_q, t_k).

    Integer 0/1 masks are refused: added to the scores they would mask nothing, and
    whether 1 means "attend" or "blocked" differs between libraries. Use ``mask.bool()``.

    >>> check_mask("mask", torch.ones(2, 3, dtype=torch.long), 2, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: mask must be a boolean tensor ... got dtype torch.int64; convert ... mask.bool()
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name} must be a boolean tensor (True = may attend) or a float bias, "
                        f"got dtype {mask.dtype}; convert a 0/1 mask with mask.bool()")
    if mask.dim() < 2 or any(m not in (1, t) for m, t in zip(mask.shape[-2:], (t_q, t_k),
                                                              strict=True)):
        raise ValueError(f"{name} must broadcast to (..., T_q={t_q}, T_k={t_k}), "
                         f"got shape {tuple(mask.shape)}")
    if mask.is_floating_point() and torch.isnan(mask).any():
        raise ValueError(f"{name} holds NaN; a float mask is added to the scores "
                         f"(0 = keep, -inf = blocked)")
    return mask
