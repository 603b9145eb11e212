"""Small helpers shared by the test modules (import as ``from helpers import perturb``)."""

import torch


def perturb(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter away from its initial value (biases != 0, LayerNorm gains != 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module
