"""The notify tests share a real webhook receiver in ``notify_support.py``; pytest runs with
--import-mode=importlib, which puts no test folder on sys.path, so this folder is added here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
