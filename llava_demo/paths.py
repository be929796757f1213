"""Where the demo model lives: the checkout's model_repo/ (llava_demo runs from a checkout)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

MODEL_REPO: Final = Path(__file__).resolve().parents[1] / "model_repo"
DEMO_DIR: Final = MODEL_REPO / "llava-demo"
