"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not fight the other worker for cores),
    even when the caller's ``OMP_NUM_THREADS`` asks for more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
