"""Let a new virtual environment use another one's installed packages (make install LTGRID_BASE_VENV=...).

A second checkout on the same machine then needs no second copy of torch: the base's
site-packages is added to the new venv's path by a .pth file, and the base's console scripts
(snakemake, dvc, mlflow, pytest...) are copied with their `#!` line pointing at the new venv's
python, so that they import the new checkout's own code, never the base checkout's.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def borrow(base: Path) -> int:
    base = base.resolve()
    sites = sorted(base.glob("lib/python*/site-packages"))
    if not sites or not (base / "bin" / "python").exists():
        print(f"error: {base} is not a virtual environment with packages (no bin/python, no lib/python*/site-packages)",
              file=sys.stderr)
        return 2
    own_site = Path(sysconfig.get_paths()["purelib"])
    (own_site / "_ltgrid_base_venv.pth").write_text(f"{sites[0]}\n")
    own_bin = Path(sys.executable).parent
    copied = 0
    for script in sorted((base / "bin").iterdir()):
        target = own_bin / script.name
        if target.exists() or not script.is_file():
            continue
        head = script.read_bytes()[:200]
        if not head.startswith(b"#!") or b"python" not in head.split(b"\n", 1)[0]:
            continue
        body = script.read_text().split("\n", 1)[1]
        target.write_text(f"#!{sys.executable}\n{body}")
        target.chmod(0o755)
        copied += 1
    print(f"install: borrowing the packages of {base} ({copied} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(borrow(Path(sys.argv[1])))
