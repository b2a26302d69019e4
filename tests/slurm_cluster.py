"""A throwaway one-node SLURM cluster (munged + slurmctld + slurmd) for tests.

Everything lives under one private directory: munge key and socket, slurm.conf, gres.conf,
state, spool, logs. Nothing under /etc or /run is touched, so it can run next to (or
without) a real SLURM install. Clients find the cluster through SLURM_CONF in `env`.

Facts this relies on (SLURM 22.05, munge 0.5.15, checked on a 2-core machine):
- Fake GPUs need a gres.conf `File=` per GPU, and each file must be a character device
  (regular files are rejected); `mknod c 1 3` (a /dev/null twin) per GPU works, and
  SLURM then sets CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS per job.
- `SlurmdParameters=config_overrides` lets the node declare more CPUs and memory than
  the machine has, so `n_gpus` GPU jobs plus CPU-only jobs can run side by side;
  `DefMemPerCPU` keeps a job without `--mem` from taking the whole node.
- Snakemake's slurm-jobstep plugin strips every SLURM_* variable (SLURM_CONF too) before
  its inner `srun`, so the env puts a `srun` shim first on PATH that restores SLURM_CONF.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scancel", "scontrol")
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
MAX_ROOT_LEN = 60  # unix sockets (munge, slurmd step sockets) must stay under 108 chars


@dataclass
class SlurmCluster:
    """A running local cluster: pass `env` to every SLURM client or Snakemake call."""

    root: Path
    conf: Path
    env: dict[str, str]
    node: str
    n_gpus: int
    cpus: int
    partition: str = PARTITION
    logs: list[Path] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def job_ids(self) -> list[str]:
        """Jobs still pending, running or completing."""
        out = self.run("squeue", "-h", "-o", "%i", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING", check=False)
        return out.stdout.split()

    def wait_empty(self, timeout: float = 120) -> None:
        """Block until no job is queued or running."""
        deadline = time.monotonic() + timeout
        while self.job_ids():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still queued after {timeout} s:\n{self.run('squeue', check=False).stdout}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        """The end of every daemon log, for failure messages."""
        parts = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(missing)"]
            parts.append(f"--- {log}\n" + "\n".join(text))
        return "\n".join(parts)


def find_binaries() -> tuple[dict[str, str], list[str]]:
    """Paths of the daemons and clients, and the names that are missing."""
    found: dict[str, str] = {}
    missing: list[str] = []
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    for name in DAEMONS + CLIENTS:
        path = shutil.which(name, path=search)
        if path:
            found[name] = path
        else:
            missing.append(name)
    return found, missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_fake_gpu(path: Path) -> None:
    """A character device with /dev/null's numbers: SLURM only accepts devices in gres.conf."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        path.symlink_to("/dev/null")  # stat() follows the link and sees a character device


def _write_munge_key(key_dir: Path) -> Path:
    """A fresh key in a 0700 directory, mode 0400: munged refuses looser permissions."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = key_dir / "munge.key"
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
    return key


def _slurm_conf(root: Path, host: str, n_gpus: int, cpus: int, mem_mb: int, munge_socket: Path) -> str:
    node_cpus = n_gpus * cpus if n_gpus else cpus
    gres = f" Gres=gpu:{n_gpus}" if n_gpus else ""
    return "\n".join([
        "ClusterName=ltgrid-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/run/slurmctld.pid",
        f"SlurmdPidFile={root}/run/slurmd.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd.log",
        "SlurmdParameters=config_overrides",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "MpiDefault=none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={max(64, mem_mb // (4 * node_cpus))}",
        "GresTypes=gpu",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "ReturnToService=2",
        "MinJobAge=300",  # squeue keeps finished jobs this long; Snakemake's squeue status needs >= 120
        "SchedulerParameters=sched_interval=2",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={node_cpus} RealMemory={mem_mb}{gres} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM one daemon by its PID, wait, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def _wait_until(ready, what: str, timeout: float, procs: list[subprocess.Popen[bytes]], cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [p.args[0] for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"{', '.join(map(str, dead))} exited" if dead else f"timed out after {timeout} s"
            raise RuntimeError(f"local SLURM cluster: waiting for {what}: {why}\n{cluster.log_tail()}")
        time.sleep(0.3)


@contextmanager
def local_slurm_cluster(
    tmp_path: Path, n_gpus: int = 4, cpus: int = 2, mem_mb: int = 65536, ready_timeout: float = 60
) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd on this machine; stop them (by PID) on exit.

    `cpus` is CPUs per fake GPU: the node declares n_gpus * cpus CPUs (or `cpus` when
    n_gpus is 0) and `mem_mb` of memory, both beyond this machine's, so that n_gpus jobs
    of the slurm profile's train size (8 GB) fit side by side. Skips the test, naming
    what is missing, when SLURM or munge is absent.
    """
    bins, missing = find_binaries()
    if missing:
        pytest.skip(f"SLURM/munge not installed (missing: {', '.join(missing)}); run .ci/install-slurm.sh")
    if os.geteuid() != 0:
        pytest.skip("a local SLURM cluster needs root (SlurmUser=root, slurmd runs jobs as their user)")

    short_root = len(str(tmp_path)) + len("/slurm") > MAX_ROOT_LEN
    root = Path(tempfile.mkdtemp(prefix="ltslurm-")) if short_root else tmp_path / "slurm"
    for sub in ("state", "spool", "log", "run", "bin", "dev"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    sock_dir = root / "munge-run"
    sock_dir.mkdir(mode=0o755, exist_ok=True)  # munged wants the socket dir traversable by all
    key = _write_munge_key(root / "munge")
    munge_socket = sock_dir / "munge.socket"

    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, host, n_gpus, cpus, mem_mb, munge_socket))
    gpu_lines = ["AutoDetect=off"]
    for i in range(n_gpus):
        dev = root / "dev" / f"fakegpu{i}"
        _make_fake_gpu(dev)
        gpu_lines.append(f"NodeName={host} Name=gpu File={dev}")
    (root / "gres.conf").write_text("\n".join(gpu_lines) + "\n")

    srun_shim = root / "bin" / "srun"
    srun_shim.write_text(f'#!/bin/sh\nexport SLURM_CONF={conf}\nexec {bins["srun"]} "$@"\n')
    srun_shim.chmod(0o755)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env["SLURM_CONF"] = str(conf)
    env["PATH"] = os.pathsep.join([str(root / "bin"), env.get("PATH", ""), *SBIN_DIRS])
    log = root / "log"
    cluster = SlurmCluster(
        root=root, conf=conf, env=env, node=host, n_gpus=n_gpus, cpus=cpus,
        logs=[log / "munged.log", log / "slurmctld.log", log / "slurmd.log", log / "daemons.out"],
    )

    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start([
            bins["munged"], "--foreground", "--force", f"--key-file={key}", f"--socket={munge_socket}",
            f"--pid-file={root}/run/munged.pid", f"--log-file={log}/munged.log", f"--seed-file={root}/munge/seed",
        ], log / "daemons.out", env))
        _wait_until(munge_socket.exists, "munged socket", ready_timeout, procs, cluster)
        procs.append(_start([bins["slurmctld"], "-D", "-i", "-f", str(conf)], log / "daemons.out", env))
        procs.append(_start([bins["slurmd"], "-D", "-f", str(conf), "-N", host], log / "daemons.out", env))

        def node_idle() -> bool:
            out = cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False, timeout=10)
            return out.returncode == 0 and out.stdout.strip() == "idle"

        _wait_until(node_idle, f"node {host} idle in sinfo", ready_timeout, procs, cluster)
        yield cluster
    finally:
        if len(procs) == 3 and procs[1].poll() is None:
            ids = cluster.job_ids()
            if ids:
                cluster.run("scancel", *ids, check=False)
                try:
                    cluster.wait_empty(timeout=30)
                except TimeoutError:
                    pass
        for proc in reversed(procs):  # slurmd, slurmctld, then munged
            _stop(proc)
        if short_root:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def slurm_cluster(tmp_path: Path) -> Iterator[SlurmCluster]:
    """A fresh 4-GPU (fake), 8-CPU one-node cluster for one test."""
    with local_slurm_cluster(tmp_path) as cluster:
        yield cluster
