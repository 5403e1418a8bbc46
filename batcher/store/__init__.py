"""batcher's state: drops, batches, messages and the audit trail in SQLite under
``paths.state_dir`` (SPEC 4.1), with named migrations (`batcher.store.migrations`).

    with Store.open(settings.paths.state_dir) as store:
        with store.lock():                      # cross-process: allocation and claims
            seq = max(store.highest_seq(project, day), remote_highest) + 1
            batch = store.add_batch(drop.id, project, day, seq, name, path, size, sha, rows)
        store.set_batch_state(batch.id, BatchState.UPLOADING)   # durable before the upload
"""

from ._store import DB_NAME, LOCK_NAME, Store
from .records import (
    DROP_CONVERTED,
    DROP_NEW,
    DROP_REPORTED,
    INACTIVE_DROP_STATUSES,
    BatchRecord,
    Clock,
    DropRecord,
    MessageRecord,
    format_timestamp,
)

__all__ = [
    "DB_NAME",
    "DROP_CONVERTED",
    "DROP_NEW",
    "DROP_REPORTED",
    "INACTIVE_DROP_STATUSES",
    "LOCK_NAME",
    "BatchRecord",
    "Clock",
    "DropRecord",
    "MessageRecord",
    "Store",
    "format_timestamp",
]
