"""The tables refuse a metrics.json recorded with another recipe than the grid's current one."""

from __future__ import annotations

import json

import pytest

from ltgrid.params import fingerprint
from ltgrid.report.freshness import StaleCellError, check_fresh


def test_fingerprints_follow_the_recipe_only():
    cell = {"method": "mixup", "method_spec": {"mixing": {"name": "mixup", "alpha": 1.0}}, "rho": 10.0}
    same = json.loads(json.dumps(cell))  # through run.json and back
    assert fingerprint(same) == fingerprint(cell) and len(fingerprint(cell)) == 16
    changed = json.loads(json.dumps(cell))
    changed["method_spec"]["mixing"]["alpha"] = 0.5
    assert fingerprint(changed) != fingerprint(cell)


def test_a_stale_cell_is_named_with_its_rerun(tmp_path):
    cells = {name: {"method": name, "alpha": 1.0} for name in ("ce", "mixup")}
    files = []
    for name, cell in cells.items():
        (tmp_path / name).mkdir()
        path = tmp_path / name / "metrics.json"
        path.write_text(json.dumps({"cell": cell}))
        files.append(path)
    current = [fingerprint(cells["ce"]), fingerprint({**cells["mixup"], "alpha": 0.5})]
    with pytest.raises(StaleCellError) as err:
        check_fresh(files, current)
    message = str(err.value)
    assert message.startswith("1 cell(s) hold results computed for other params") and str(tmp_path / "mixup") in message
    assert f"`rm -r {tmp_path / 'mixup'}`" in message and str(tmp_path / "ce") not in message
    check_fresh(files, [fingerprint(c) for c in cells.values()])
    with pytest.raises(ValueError, match="1 recipe fingerprints for 2 metrics files"):
        check_fresh(files, current[:1])
