"""Suite-wide settings: one torch thread per xdist worker (two workers on two cores must not oversubscribe)."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
