"""Shared pieces of the online-store benchmark: settings, the machine, latency statistics, memory
high-water marks, and the table printed to stdout and appended to bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
STARTED = time.perf_counter()


def say(message: str) -> None:
    """A progress line, with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - STARTED:5.0f} s] {message}", flush=True)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def publish(text: str, keep: bool) -> None:
    """Print a run's section, and append it to bench/RESULTS.md when ``keep``."""
    print("\n" + text)
    if keep:
        record(text)


def record(text: str) -> None:
    """Append a run's section to bench/RESULTS.md."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `make bench`, newest last.\n")
    with RESULTS.open("a") as f:
        f.write("\n" + text + "\n")
    print(f"\nappended to {RESULTS.relative_to(ROOT)}")


# -- settings ---------------------------------------------------------------------------------------
def mysql_env() -> dict[str, str]:
    """FEATURESTORE_MYSQL_* from the environment, else from .cache/mysql.env (`make mysql`)."""
    found: dict[str, str] = {}
    env_file = ROOT / ".cache" / "mysql.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                found[k.strip()] = v
    found.update({k: v for k, v in os.environ.items() if k.startswith("FEATURESTORE_MYSQL_")})
    if "FEATURESTORE_MYSQL_HOST" not in found:
        sys.exit("no MySQL configured: run `make bench` (it runs `make mysql` first)")
    return found


def local_settings_env(home: Path, project: str) -> dict[str, str]:
    """A feature store of its own (embedded SQLite metadata and online store) in ``home``."""
    return {
        "FEATURESTORE_HOME": str(home),
        "FEATURESTORE_PROJECT": project,
        "FEATURESTORE_SPARK_MASTER": os.environ.get("BENCH_SPARK_MASTER", "local[2]"),
        "FEATURESTORE_SPARK_JARS_DIR": str(ROOT / ".cache" / "jars"),
        "FEATURESTORE_SPARK_DEFAULTS_FILE": str(ROOT / "conf" / "spark-defaults.conf"),
        "FEATURESTORE_SPARK_LOG4J_FILE": str(ROOT / "conf" / "log4j2.properties"),
        # writes are measured without the statistics jobs that follow them by default
        # (bench/statistics_bench.py measures those)
        "FEATURESTORE_STATISTICS_ON_WRITE": "false",
    }


def settings_env(home: Path, project: str, transport: str) -> dict[str, str]:
    """Settings of a feature store whose online store is the benchmark's MariaDB, reached over
    ``transport`` (tcp or socket)."""
    env = {**local_settings_env(home, project), "FEATURESTORE_ONLINE_BACKEND": "mysql",
           **{k: v for k, v in mysql_env().items() if k.startswith("FEATURESTORE_MYSQL_")}}
    if transport == "tcp":
        env["FEATURESTORE_MYSQL_UNIX_SOCKET"] = ""
    elif not env.get("FEATURESTORE_MYSQL_UNIX_SOCKET"):
        raise RuntimeError("no FEATURESTORE_MYSQL_UNIX_SOCKET: the server is not the local one")
    return env


def drop_online(fs, project: str) -> None:
    """Drop the project's online database (a benchmark starts and ends without it)."""
    with fs.online.backend.connection(project) as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{project}_online`")


def finish(fs, project: str, home: Path) -> None:
    """Leave nothing behind: the online database, the session, the feature store's home."""
    import shutil
    drop_online(fs, project)
    spark = fs.spark
    fs.close()
    spark.stop()
    shutil.rmtree(home, ignore_errors=True)


# -- latency ----------------------------------------------------------------------------------------
def percentile(sorted_ns: Sequence[int], p: float) -> float:
    """The p-th percentile (nearest rank) of sorted nanoseconds, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    rank = max(0, min(len(sorted_ns) - 1, int(round(p / 100 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[rank] / 1e6


@dataclass
class Latency:
    """Latencies of one side (ours or raw) of one comparison."""
    samples_ns: list[int]

    @property
    def p50(self) -> float:
        return percentile(sorted(self.samples_ns), 50)

    @property
    def p99(self) -> float:
        return percentile(sorted(self.samples_ns), 99)

    @property
    def per_second(self) -> float:
        """Calls per second, one caller back to back (calls / the time spent in them)."""
        return len(self.samples_ns) / (sum(self.samples_ns) / 1e9)


# -- memory -----------------------------------------------------------------------------------------
def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset a process's VmHWM to its current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS since the last reset) in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    return rss, hwm


class JvmHeap:
    """The Spark driver JVM's heap: used heap sampled in a background thread (Runtime
    totalMemory - freeMemory; py4j calls from the driver) and the old generation's peak (memory
    pool peak counter, reset by ``start``). Old-generation growth is what data held by the
    driver would show as; the sampled maximum also counts garbage not yet collected."""

    def __init__(self, spark: Any, interval: float = 0.2) -> None:
        jvm = spark.sparkContext._jvm
        factory = jvm.java.lang.management.ManagementFactory
        self._old = [p for p in factory.getMemoryPoolMXBeans() if "Old" in p.getName()
                     or "Tenured" in p.getName()]
        self._runtime = jvm.java.lang.Runtime.getRuntime()
        self.pid = int(jvm.java.lang.ProcessHandle.current().pid())
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.used_max = 0.0

    def used_mib(self) -> float:
        return (self._runtime.totalMemory() - self._runtime.freeMemory()) / 2 ** 20

    def start(self) -> None:
        for p in self._old:
            p.resetPeakUsage()
        self.used_max = self.used_mib()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.used_max = max(self.used_max, self.used_mib())

    def stop(self) -> tuple[float, float]:
        """(max sampled used heap, old generation peak) in MiB."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.used_max = max(self.used_max, self.used_mib())
        old = sum(p.getPeakUsage().getUsed() for p in self._old) / 2 ** 20
        return self.used_max, old


# -- the machine ------------------------------------------------------------------------------------
def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"host": platform.node(), "nproc": _run("nproc"), "cpu": cpu,
            "free -g": _run("free", "-g"), "kernel": platform.release(),
            "python": platform.python_version(),
            "load average": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- tables -----------------------------------------------------------------------------------------
def heading(title: str, info: dict[str, Any]) -> list[str]:
    """A run's section heading: the title, the machine's facts and its ``free -g``."""
    return [f"## {now()}: {title}", "", table(["", ""], [(k, v) for k, v in info.items()
                                                         if k != "free -g"]),
            "", "`free -g`:", "", "```", info["free -g"], "```", ""]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
