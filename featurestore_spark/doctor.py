"""``featurestore doctor``: what this installation runs with, from facts that need no Spark.

Versions (Python, Java, the packages), the settings' backends, whether the online store answers,
and which client MySQL lookups use: in this process, and in a new process that imports pandas
first (as most notebooks and model servers do), where the C extension is lost unless the
start-up hook ``_featurestore_spark_preload.pth`` loaded it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from .config import DEFAULT_CONF, Settings
from .mysql_client import NATIVE, PRELOAD_FIX, client_path, reason

PACKAGES = ("featurestore_spark", "pyspark", "delta-spark", "pandas", "pyarrow", "numba",
            "mysql-connector-python", "great_expectations")
HOOK = "_featurestore_spark_preload.pth"
# a process that imports pandas before featurestore_spark: which client do its lookups get?
PANDAS_FIRST = ("import pandas, json\n"
                "from featurestore_spark.mysql_client import client_path\n"
                "print(json.dumps(client_path()))")
TIMEOUT = 60


@dataclass
class Report:
    facts: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, value: str, problem: str | None = None) -> None:
        self.facts.append((name, value))
        if problem:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        return {"facts": dict(self.facts), "problems": self.problems}

    def text(self) -> str:
        width = max(len(k) for k, _ in self.facts) + 2
        lines = [f"{k + ':':<{width}}{v}" for k, v in self.facts]
        lines += [""] + ([f"problem: {p}" for p in self.problems] or ["no problems found"])
        return "\n".join(lines)


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def java() -> tuple[str, str | None]:
    """The java Spark would start (JAVA_HOME's, else the PATH's) and its version line."""
    home = os.environ.get("JAVA_HOME")
    exe = str(Path(home, "bin", "java")) if home else shutil.which("java")
    if not exe or not Path(exe).is_file():
        return "not found", "no java found (JAVA_HOME or PATH): Spark needs Java 17 or 21"
    try:
        done = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{exe}: {e}", f"{exe} -version failed"
    lines = (done.stderr or done.stdout).splitlines()
    return f"{lines[0] if lines else '?'} ({exe})", None


def hook() -> str:
    """Where the start-up hook is installed and what it did in this process."""
    dirs = dict.fromkeys([sysconfig.get_path("purelib"), *sys.path])
    found = next((Path(d, HOOK) for d in dirs if d and Path(d, HOOK).is_file()), None)
    status = getattr(sys.modules.get("featurestore_spark_preload"), "status", "did not run")
    where = f"installed at {found}" if found else "NOT installed"
    return f"{where}; in this process: {status}"


def online_server(settings: Settings) -> tuple[str, str | None]:
    """The MySQL online store: does it answer, which server, which connection class."""
    import mysql.connector
    try:
        conn = mysql.connector.connect(**settings.mysql.connect_args(), connection_timeout=5)
    except mysql.connector.Error as e:
        why = reason(e, settings.mysql)
        return "does not answer", f"the online store {settings.mysql.describe()} does not answer: {why}"
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        # SELECT VERSION() always gives one row, of a plain (not dictionary) cursor
        server = cast("tuple[Any, ...]", cur.fetchone())[0]
        return f"answers: {server} ({type(conn).__name__})", None
    finally:
        conn.close()


def report(settings: Settings, conf: str | None = None) -> Report:
    """Every fact and problem; starts no Spark (a child Python checks the pandas-first case)."""
    child = subprocess.Popen([sys.executable, "-c", PANDAS_FIRST], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        r = facts(settings, conf)
        first = _pandas_first(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    on_mysql = settings.online.backend == "mysql"
    note = "" if on_mysql else " (for a MySQL online store; this one is SQLite)"
    here = client_path()
    r.add("lookup client, this process", here + note,
          None if here == NATIVE or not on_mysql else
          f"lookups in this process fall back to pure Python: {PRELOAD_FIX}")
    r.add("lookup client, pandas imported first", first + note,
          None if first == NATIVE or not on_mysql else
          f"lookups in a process that imports pandas first fall back to pure Python: {PRELOAD_FIX}")
    return r


def facts(settings: Settings, conf: str | None) -> Report:
    """Versions, settings, backends, the online server and the start-up hook."""
    r = Report()
    r.add("python", f"{sys.version.split()[0]} ({sys.executable})")
    for package in PACKAGES:
        r.add(package, version(package))
    r.add("java", *java())
    chosen = conf or os.environ.get("FEATURESTORE_CONF") or (DEFAULT_CONF if DEFAULT_CONF.is_file()
                                                              else None)
    r.add("settings", f"{Path(chosen).resolve() if chosen else 'defaults'}, then FEATURESTORE_* "
                      "variables")
    r.add("project", settings.project)
    r.add("home", str(settings.home_path))
    mysql = settings.mysql.describe()
    r.add("metadata store", settings.metadata.backend + (
        f" {mysql}/{settings.metadata.database}" if settings.metadata.backend == "mysql"
        else f" {settings.metadata_path}"))
    on_mysql = settings.online.backend == "mysql"
    r.add("online store", settings.online.backend + (f" {mysql}" if on_mysql
                                                     else f" {settings.online_path}"))
    r.add("offline warehouse", settings.warehouse)
    if on_mysql:
        r.add("online server", *online_server(settings))
    r.add("start-up hook", hook())
    return r


def _pandas_first(child: subprocess.Popen) -> str:
    """What the child running PANDAS_FIRST printed: the client its lookups would use."""
    try:
        out, err = child.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "unknown: the check timed out"
    if child.returncode != 0 or not out.strip():
        return f"unknown: the check failed: {err.strip()[-300:]}"
    return json.loads(out.strip().splitlines()[-1])
