"""Fixtures for tests/data; they live in data_fixtures.py, which the tests also import helpers from."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # also under --import-mode=importlib
    sys.path.insert(0, _HERE)

from data_fixtures import ava_root, coco_root, table_dir, utk_root  # noqa: E402, F401
