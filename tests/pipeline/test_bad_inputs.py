"""Bad inputs through the real workflow: bad params stop Snakemake before any job; a bad
data source fails the prepare job with a clear message and leaves nothing under data/ that
looks like a dataset.

The unit tests (test_params*.py, test_sources.py) pin each message; these check that the
message reaches the user of `snakemake` and that no half-written file is left behind.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import copy_project, data_file, run, tiny_grid, write_params
from tests.helpers.cifar_archives import make_cifar10_archive, make_hostile_archive, truncate

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("bad") / "project")


def snakemake(root: Path, params_file: Path, *targets: str, dry: bool = False):
    # targets before --configfile, which takes every word after it
    cmd = ["snakemake", "--cores", "1", *(["-n"] if dry else []), *targets, "--configfile", str(params_file)]
    return run(cmd, root, check=False, timeout=300)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["datasets"]["digits"].__setitem__("ratios", [0.5]), "datasets.digits.ratios[0] = 0.5"),
        (lambda c: c["recipes"]["digits"]["optimizer"].__setitem__("lr", 0), "recipes.digits.optimizer.lr = 0"),
        (lambda c: c.__setitem__("seeds", ["1"]), 'seeds[0] = "1"'),
        (lambda c: c.setdefault("method_library", {}).__setitem__("unimix", {"mixing": {"name": "unimixx"}}),
         "mixing.name = 'unimixx'"),
        (lambda c: c["datasets"]["digits"]["source"].__setitem__("kind", "mnist"), "datasets.digits.source.kind = 'mnist'"),
        (lambda c: c.__setitem__("tracking", {"uri": "https://alice:s3cret@example.org"}), "tracking.uri: a URL with user:password@"),
        # issue 14.6: refused before any job (the tracking store used to be set up first), not dropped silently
        (lambda c: c["datasets"]["digits"].__setitem__("source", {"kind": "image_folder_archive", "path": "x.tar.gz", "classes": ["a"]}),
         "datasets.digits.source: a source needs an md5 or sha256 checksum"),
        (lambda c: c.__setitem__("methods", ["ce", "mixup", "ce"]), "methods[2] = 'ce': listed twice (also methods[0])"),
        (lambda c: c.update(methods=["ce", "s"], sweeps={"s": {"base": "unimix", "values": {"mixing.alpha": [0.5, -1]}}}),
         "sweeps.s.values.mixing.alpha[1] = -1: method 'unimix': unimix alpha must be a number > 0"),
        (lambda c: c.update(methods=["s"], sweeps={"s": {"base": "unimix", "values": {"mixing.tau": []}}}),
         "sweeps.s.values.mixing.tau = []"),
        (lambda c: c.update(plugins=["plugins.nosuch"]), "plugins[0] = 'plugins.nosuch': cannot be imported"),
    ],
)
def test_bad_params_fail_the_dry_run_before_any_job(project, tmp_path, mutate, expected):
    config = tiny_grid(grid="bad")
    mutate(config)
    proc = snakemake(project, write_params(tmp_path / "bad.yaml", config), dry=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and expected in output, output[-3000:]
    assert "s3cret" not in output
    assert "Job stats" not in output and "rule prepare_dataset" not in output  # no job was planned


def test_python_tags_in_a_configfile_are_refused(project, tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.yaml"
    bad.write_text(f"grid: evil\nseeds: !!python/object/apply:os.system ['touch {marker}']\n")
    proc = snakemake(project, bad, dry=True)
    assert proc.returncode != 0 and not marker.exists()
    # Snakemake reads --configfile itself (yte, FullLoader, which has no python/object
    # constructors) and says only "not valid JSON or YAML"; `ltgrid validate` names the tag.
    assert "not valid JSON or YAML" in proc.stdout + proc.stderr
    check = run(["python", "-m", "ltgrid", "validate", str(bad)], project, check=False)
    assert check.returncode == 2 and "python/object/apply:os.system" in check.stderr, check.stderr


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tampered(kind: str, folder: Path) -> tuple[dict, str]:
    """A cifar10 source entry for one bad case and the message the prepare job must give."""
    good = folder / "cifar-10-python.tar.gz"
    make_cifar10_archive(good)
    if kind == "wrong checksum":
        tampered = folder / "tampered.tar.gz"
        data = bytearray(good.read_bytes())
        data[len(data) // 2] ^= 0xFF
        tampered.write_bytes(bytes(data))
        return {"local": str(tampered), "sha256": sha256(good)}, f"sha256 expected {sha256(good)}"
    if kind == "truncated archive":  # the checksum is that of the truncated file: only extraction can tell
        short = truncate(good, folder / "short.tar.gz", keep=0.5)
        return {"local": str(short), "sha256": sha256(short)}, "is truncated or corrupt"
    if kind == "member escaping its folder":
        hostile = folder / "hostile.tar.gz"
        name = make_hostile_archive(hostile, "dotdot")
        return {"local": str(hostile), "sha256": sha256(hostile)}, f"member {name!r} climbs out of the target folder"
    url = f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz"
    return {"url": url, "sha256": sha256(good)}, f"could not download {url}"


CASES = ["wrong checksum", "truncated archive", "member escaping its folder", "unreachable URL"]


@pytest.mark.parametrize("kind", CASES)
def test_bad_data_source_leaves_nothing_half_written(project, tmp_path, kind):
    shutil.rmtree(project / "data/raw/baddata/cifar", ignore_errors=True)  # each case starts with no cache
    source, expected = tampered(kind, tmp_path)
    config = tiny_grid(grid="baddata")
    config["datasets"] = {"cifar": {
        "source": {"kind": "cifar10", **source}, "ratios": [10], "model": "resnet32", "recipe": "digits",
    }}
    target = data_file(project, config, "cifar")
    proc = snakemake(project, write_params(tmp_path / "bad.yaml", config), str(target.relative_to(project)))
    assert proc.returncode != 0
    assert "rule prepare_dataset" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    log = (project / f"results/logs/prepare/cifar/{target.parent.name}.log").read_text()
    assert expected in log, log[-3000:]
    raw = target.parent
    left = sorted(str(p.relative_to(raw)) for p in raw.rglob("*")) if raw.exists() else []
    assert "dataset.npz" not in left
    assert not [p for p in left if Path(p).name.startswith(".") or p.endswith((".tmp", ".part", ".extracting"))], left
    # Only an archive that matched its checksum stays, as the download cache.
    verified = kind in ("truncated archive", "member escaping its folder")
    assert left == (["download", "download/cifar-10-python.tar.gz"] if verified else []), left
    assert not (tmp_path.parent / "evil.txt").exists() and not (project / "data/evil.txt").exists()


# ---------------------------------------------------------------- one `error:` line, before any job, nothing created

def one_error_line(proc) -> str:
    """The run failed with exactly one line of output, `error: ...` (no Snakemake header, no traceback)."""
    out = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0 and len(out) == 1 and out[0].startswith("error: "), "\n".join(out[-40:])
    return out[0]


def nothing_created(root: Path, grid: str) -> None:
    """No folder of the grid, and no MLflow experiment for it (the store itself is the module's)."""
    import sqlite3

    assert not (root / "results/runs" / grid).exists() and not (root / "results/logs" / grid).exists()
    assert not (root / "data/raw" / grid).exists() and not (root / "data/splits" / grid).exists()
    if (root / "mlflow.db").exists():
        with sqlite3.connect(root / "mlflow.db") as con:
            names = {row[0] for row in con.execute("SELECT name FROM experiments")}
        assert f"ltgrid-{grid}" not in names, names


def test_a_yaml_syntax_error_names_its_file_line_and_column(project):
    bad = project / "params" / "typo.yaml"
    bad.write_text("grid: typo\nseeds: [0\nmethods: [ce]\n")
    try:
        for cmd in (["snakemake", "--cores", "1", "--config", "grid=typo"], ["python", "-m", "ltgrid", "validate", str(bad)]):
            line = one_error_line(run(cmd, project, check=False))
            assert "params/typo.yaml, line 3, column 8: not valid YAML" in line, line
        nothing_created(project, "typo")
    finally:
        bad.unlink()


def test_a_grid_name_without_a_file_lists_the_grids(project):
    line = one_error_line(run(["snakemake", "--cores", "1", "--config", "grid=nosuch"], project, check=False))
    assert "grid = 'nosuch': no file params/nosuch.yaml" in line and "default" in line, line


def test_a_missing_local_source_is_refused_before_any_job(project, tmp_path):
    config = tiny_grid(grid="absent")
    config["datasets"] = {"cifar": {
        "source": {"kind": "cifar10", "local": str(tmp_path / "absent.tar.gz"), "sha256": "0" * 64},
        "ratios": [10], "model": "resnet32", "recipe": "digits",
    }}
    params_file = write_params(tmp_path / "absent.yaml", config)
    line = one_error_line(run(["snakemake", "--cores", "1", "--configfile", str(params_file)], project, check=False))
    assert f"datasets.cifar.source.local = '{tmp_path / 'absent.tar.gz'}': no such file" in line, line
    nothing_created(project, "absent")
    check = run(["python", "-m", "ltgrid", "validate", str(params_file)], project, check=False)
    assert check.returncode == 2 and "absent.tar.gz" in check.stderr and "no such file" in check.stderr
    # a dry run plans without the files a job will read (they may arrive later)
    assert run(["snakemake", "-n", "--cores", "1", "--configfile", str(params_file)], project).returncode == 0


def test_an_official_archive_of_the_wrong_size_is_refused(project, tmp_path):
    short = tmp_path / "cifar-10-python.tar.gz"
    short.write_bytes(b"x" * 1000)
    config = tiny_grid(grid="short")
    config["datasets"] = {"cifar": {"source": {"kind": "cifar10", "local": str(short)}, "ratios": [10],
                                    "model": "resnet32", "recipe": "digits"}}
    line = one_error_line(run(["snakemake", "--cores", "1", "--configfile", str(write_params(tmp_path / "s.yaml", config))],
                              project, check=False))
    assert "1,000 bytes, the official archive has 170,498,071" in line, line
    nothing_created(project, "short")


def test_a_batch_larger_than_the_split_is_refused_with_the_numbers(project, tmp_path):
    config = tiny_grid(grid="bigbatch")
    config["recipes"]["digits"]["batch_size"] = 100000
    line = one_error_line(run(["snakemake", "--cores", "1", "--configfile", str(write_params(tmp_path / "b.yaml", config))],
                              project, check=False))
    assert ("recipes.digits.batch_size = 100000: larger than the training split of dataset digits at rho=10 "
            "(403 images)") in line, line
    nothing_created(project, "bigbatch")
