"""A separate process that upserts keys [first, first + count) into feature group ``teams`` once
the file ``go`` appears; prints one JSON line saying how it ended. Used by test_concurrency.

With a fourth argument ``stall``, it stops between its Delta commit and the commit's
registration (prints ``{"committed": true}`` and sleeps) for test_reconcile to SIGKILL it there."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(barrier: str, first: int, count: int, stall: bool = False) -> None:
    import featurestore_spark as fs
    from featurestore_spark import featurestore

    store = fs.connect()
    df = store.spark.createDataFrame([(k, f"t{k}", float(k)) for k in range(first, first + count)],
                                     "team_id int, name string, score double")
    df.cache().count()
    if stall:
        def stalled(*args: object, **kwargs: object) -> None:
            print(json.dumps({"committed": True}), flush=True)
            time.sleep(600)
        store.metadata.add_commit = stalled       # type: ignore[method-assign]
    print(json.dumps({"ready": True}), flush=True)
    while not Path(barrier).exists():
        time.sleep(0.05)
    try:
        commit = featurestore.insert_into_featuregroup(df, "teams", mode="upsert")
        print(json.dumps({"ok": True, "commit": commit.commit_id}), flush=True)
    except fs.ConcurrentWriteError as e:
        print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["stall"])
