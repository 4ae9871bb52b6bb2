"""Every example settings file resolves to a valid config whose model builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from aae_cli.config import read_toml, resolve
from aae_cli.variants import DataInfo, get_variant

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


def test_there_is_an_example_per_paper_result() -> None:
    names = {p.stem for p in EXAMPLES}
    for needed in ("table2-mnist-100", "table2-mnist-1000", "table2-mnist-all", "table2-svhn-1000",
                   "table3-cluster-16", "table3-cluster-30", "fig5-table1-likelihood"):
        assert needed in names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_resolves_and_builds(path: Path) -> None:
    values = read_toml(path)
    variant = get_variant(values.get("variant", "unsupervised"))
    cfg = resolve(variant.preset_for(str(values.get("dataset", "mnist"))), values, {})
    shape = (3, 32, 32) if cfg.dataset.startswith("svhn") else (1, 28, 28)
    # small hidden layers: the point is that the settings are valid together, not the size
    small = cfg.__class__.from_dict({**cfg.__dict__, "hidden": [8, 8], "disc_hidden": [8]})
    model = variant(small, DataInfo(shape, 10, True))
    assert model.phases and cfg.epochs >= 1
