"""Loads mysql-connector's C extension as Python starts (``_featurestore_spark_preload.pth``, which
pip installs with the package into site-packages, runs this module).

mysql-connector's wheel bundles a newer OpenSSL (libssl/libcrypto 3.3) than Debian 12's (3.0), and
a process keeps the first libcrypto it loads. Once ``hashlib`` or ``ssl`` has loaded the system's
(``import pandas`` does), ``_mysql_connector`` no longer loads (``OPENSSL_3.3.0 not found``) and
mysql-connector silently falls back to pure Python, so online lookups lose their fast path.
Loaded here, before any user code, the bundled library comes first whatever the import order;
Python's own ``hashlib`` and ``ssl`` work with it.

Kept tiny (no other import) and never raising: a failure must not disturb Python's start. The
online store logs the fallback and ``featurestore doctor`` tells why. ``FEATURESTORE_PRELOAD=0``
turns the hook off.
"""

import os

status = "not run"     # "loaded", "off (FEATURESTORE_PRELOAD=...)" or "failed: <the error>"

try:
    if os.environ.get("FEATURESTORE_PRELOAD", "1").strip().lower() in ("0", "false", "no", "off"):
        status = f"off (FEATURESTORE_PRELOAD={os.environ['FEATURESTORE_PRELOAD']})"
    else:
        import _mysql_connector  # noqa: F401
        status = "loaded"
except Exception as e:   # noqa: BLE001 - never break Python's start
    status = f"failed: {type(e).__name__}: {e}"
