"""The package as a zip for ``spark-submit --py-files``: PySpark puts .zip, .egg and .jar files on
executors' ``sys.path``, not wheels. Built from wherever this package is imported from, so a user
who installed it with pip builds the same zip as one with the checkout.

The zip holds this package only; its dependencies (pyspark, pandas, pyarrow, mysql-connector, ...)
must be installed in the Python the executors run (``spark.pyspark.python``).

Examples
--------
>>> from featurestore_spark.packaging import build_zip
>>> build_zip("dist/featurestore_spark.zip")        # doctest: +SKIP
PosixPath('dist/featurestore_spark.zip')
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def build_zip(out: str | Path) -> Path:
    """Write the package (sources and data files, no caches) to the zip ``out``."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                z.write(path, Path(PACKAGE.name) / path.relative_to(PACKAGE))
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(build_zip(sys.argv[1] if len(sys.argv) > 1 else "dist/featurestore_spark.zip"))
