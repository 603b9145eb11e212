"""What surrounds a training loop: the processes it runs in, the files it leaves behind,
and how fast it goes.

* **checkpoints** - :func:`save_checkpoint` writes atomically (a reader never sees half a
  file), :func:`load_checkpoint` loads with ``weights_only=True`` (no code from the file is
  run); :func:`get_rng_state`/:func:`set_rng_state` capture every random generator, so a
  resumed run draws exactly what the uninterrupted run would have drawn.
* **distributed** - :func:`setup_distributed` joins the process group ``torchrun``
  describes (or does nothing on a single process).
* **speed** - training FLOPs per token and the practical matmul peak, whose ratio with the
  measured throughput is the model FLOPs utilisation (MFU); :func:`native_bf16` says
  whether ``bfloat16`` pays off on this CPU.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run" / "ckpt.pt"
>>> _ = save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "step": 3})
>>> load_checkpoint(path)["step"]
3
"""

from __future__ import annotations

import os
import pickle
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from lm_course.utils import (
    check_choice,
    check_float,
    check_int,
    count_parameters,
    pick_device,
    remove_stale_temp_files,
    temp_name,
)

__all__ = [
    "CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "get_rng_state",
    "set_rng_state", "DistInfo", "setup_distributed", "cleanup_distributed", "world",
    "estimate_flops_per_token", "measure_matmul_flops", "native_bf16",
]

CHECKPOINT_FORMAT = "lm_course.checkpoint/1"


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename it over ``path``.

    A rename within one filesystem is atomic: a reader sees the old checkpoint or the new
    one, never half of one, even if the process is killed mid-write. What such a kill
    leaves behind (``.ckpt.pt.tmp-PID``, often full size) is removed by the next save to
    the same path, once process ``PID`` is gone. On a write error (disk full, no
    permission) the temporary file is removed and the previous checkpoint is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    tmp = path.with_name(temp_name(path))
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename publishes them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code
    from the file is ever executed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # what weights_only refuses: code, foreign objects
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "Unsupported" in ln or "GLOBAL" in ln),
                   lines[0] if lines else type(err).__name__)
        raise ValueError(f"{path} was refused: it holds objects that weights_only loading "
                         f"will not run ({why[:120]}); only load checkpoints written by "
                         f"lm_course") from None
    except Exception as err:  # truncated, not a torch file at all, damaged zip ...
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        why = f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__
        raise ValueError(f"{path} is not a readable checkpoint (truncated or not a torch "
                         f"file; {why}); train again or restore it from a copy") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an lm_course checkpoint "
                         f"(expected format {CHECKPOINT_FORMAT!r})")
    return payload


def get_rng_state() -> dict[str, Any]:
    """Every random generator the run uses, in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    missing = ({"torch", "cuda", "python", "numpy"} - set(state)
               if isinstance(state, dict) else None)
    if missing is None or missing:
        raise ValueError(f"state must be a dict from get_rng_state() with keys torch, cuda, "
                         f"python, numpy; got {type(state).__name__}"
                         + (f" without {sorted(missing)}" if missing else ""))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))


# ----------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a (possibly one-process) distributed run."""

    rank: int  # this process, 0 .. world_size - 1
    world_size: int  # number of processes
    local_rank: int  # index on this machine (picks the GPU)
    device: torch.device


def setup_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Without ``torchrun`` (no ``WORLD_SIZE``), returns rank 0 of 1 and does nothing. Backend:
    NCCL on GPUs, Gloo on CPUs (or as given).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 and not dist.is_initialized():
        return DistInfo(0, 1, 0, pick_device())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if device.type == "cuda" else "gloo"))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def cleanup_distributed() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ----------------------------------------------------------------------------- speed


def estimate_flops_per_token(model: nn.Module, block_size: int) -> float:
    """Training FLOPs per token: forward + backward ≈ 3 × forward.

    For a :class:`~lm_course.transformer.GPT` (anything with a ``GPTConfig`` in
    ``model.config``) the count includes attention over ``block_size`` tokens; for other
    models it is the usual ``6 × parameters`` (2 per multiply-add, × 3 for the backward).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int("block_size", block_size, min_value=1)
    config = getattr(model, "config", None)
    if config is not None and all(hasattr(config, a) for a in ("n_layer", "n_embd", "vocab_size")):
        from lm_course.transformer import flops_per_token  # chapter 05

        return float(flops_per_token(config, seq_len=block_size)["training"])
    return 6.0 * count_parameters(model)


_PEAK_CACHE: dict[tuple[str, str], float] = {}


def measure_matmul_flops(device: torch.device | str = "cpu", dtype: str = "float32",
                         size: int = 1024, seconds: float = 0.25) -> float:
    """FLOP/s of a square matmul on ``device``: the practical peak that MFU is relative to.

    Model FLOPs utilisation = useful FLOPs of training per second / this number. The best
    of five short windows is kept (a busy machine only ever makes a window slower).
    Measured once per (device, dtype) and process; a vendor's spec-sheet peak can be passed
    to the trainer instead (``TrainConfig.peak_flops``).
    """
    check_choice("dtype", dtype, ["float32", "bfloat16"])
    check_int("size", size, min_value=1)
    check_float("seconds", seconds, low=0.0, low_inclusive=False)
    device = pick_device(device) if isinstance(device, str) else device
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device or a name such as 'cpu', "
                        f"got {type(device).__name__}")
    key = (str(device), dtype)
    if key in _PEAK_CACHE:
        return _PEAK_CACHE[key]
    tdtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    # its own generator: measuring speed must not move the global random state (dropout
    # masks after a resume would differ from those of the uninterrupted run)
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=tdtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=tdtype)
    a @ b  # warm-up
    best = 0.0
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while True:
            a @ b
            n += 1
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5 and n >= 2:
                break
        best = max(best, 2.0 * size**3 * n / elapsed)
    _PEAK_CACHE[key] = best
    return best


# ----------------------------------------------------------------------------- bfloat16


def native_bf16() -> bool:
    """True if this CPU multiplies bfloat16 natively (x86 AVX512-BF16 or AMX, Arm BF16).

    There, ``bfloat16`` autocast roughly halves the time of the matrix multiplies; on
    other CPUs it is emulated and slower than ``float32``.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux (macOS, Windows): be conservative
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16", " bf16"))
