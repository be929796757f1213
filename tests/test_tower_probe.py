"""`python -m llava_demo probe`: the linear probe reads what a tower's features hold."""

from __future__ import annotations

from llava_demo.paths import DEMO_DIR
from llava_demo.tower_probe import probe_tower


def test_the_committed_tower_tells_every_cell_of_plain_pictures() -> None:
    """The committed tower was trained on plain pictures: their colours and shapes are all in
    its features. Pictures drawn in other styles are what the probe measures it on."""
    table = probe_tower(DEMO_DIR / "tower", train_scenes=300, eval_scenes=60)
    assert table["colour"]["plain"] >= 95.0, table
    assert table["shape"]["plain"] >= 95.0, table
    assert set(table["shape"]) == {"training renderer", "plain", "second renderer"}
