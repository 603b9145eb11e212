"""Small helpers every chapter uses: seeding, devices, parameter counts, quick mode,
argument checks that give clear error messages, and atomic file writes.

>>> set_seed(0)
>>> count_parameters(torch.nn.Linear(3, 2))
8
>>> scaled(full=10_000, quick=100) in (100, 10_000)
True
"""

from __future__ import annotations

import os
import random
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
            raise ValueError("prefer='cuda' but no CUDA device is available; use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("prefer='mps' but no Apple MPS device is available; use 'cpu'")
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


def write_text_atomic(path: str | os.PathLike, text: str, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half.

    The text goes to a temporary file in the same folder, which is then renamed over
    ``path`` (a rename within one filesystem is atomic). On any error the temporary file is
    removed and ``path`` is untouched. The result has ordinary ``0644`` permissions.

    >>> import tempfile
    >>> p = write_text_atomic(Path(tempfile.mkdtemp()) / "a.txt", "hello")
    >>> p.read_text()
    'hello'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary, shareable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------- argument checks
# One wording for every user error in the package: the argument, the value, what was expected.


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


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Raise unless ``value`` is one of ``choices``.

    >>> check_choice("nonlinearity", "tanh", ["tanh", "relu"])
    'tanh'
    """
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
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
