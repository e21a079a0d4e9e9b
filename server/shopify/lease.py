"""One driver per backfill run at a time: a lease held on the BackfillRun row.

The worker task, the periodic resume job, the bulk_operations/finish webhook and the CLI can
all drive a run. Each first claims it with one conditional UPDATE: granted when the run is
free, already held by the same token (a continuation of the same driver), or held by a driver
whose heartbeat is older than LEASE_TIMEOUT (it crashed: take it over). The holder renews the
heartbeat in the same transaction as every write it commits, so a driver that finds its token
gone rolls its writes back and stops (LeaseLost); a takeover and a late commit of the old
holder can never both land. PostgreSQL serialises the two UPDATEs on the row lock, SQLite on
its single writer.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update

from server.db import db
from server.errors import DomainError

from .models import BackfillRun

log = logging.getLogger(__name__)

# A driver commits at least once per batch (about a second) or poll (10 s): five minutes of
# silence means it is gone.
LEASE_TIMEOUT = timedelta(minutes=5)


class LeaseLost(DomainError):
    status = 409
    code = "backfill_driven_elsewhere"


@dataclass(frozen=True)
class Lease:
    run_id: int
    token: str


def claim(run: BackfillRun, *, now: datetime, token: str | None = None) -> Lease | None:
    """Make the caller the run's driver and commit. None when another driver holds it and its
    heartbeat is younger than LEASE_TIMEOUT, or when the run is finished. Passing the `token`
    of an earlier claim continues that lease (or claims afresh if it was released)."""
    token = token or secrets.token_hex(16)
    run_id = run.id  # read before the commit expires `run`: no SELECT ahead of the UPDATE
    end_reads()
    claimed = _set(
        run_id,
        {"driver_token": token, "driver_heartbeat_at": now},
        BackfillRun.status.not_in(("completed", "failed")),
        or_(
            BackfillRun.driver_token.is_(None),
            BackfillRun.driver_token == token,
            BackfillRun.driver_heartbeat_at.is_(None),
            BackfillRun.driver_heartbeat_at < now - LEASE_TIMEOUT,
        ),
    )
    db.session.commit()
    db.session.refresh(run)  # a taken-over run continues from what its last driver committed
    return Lease(run_id, token) if claimed else None


def commit_holding(lease: Lease, *, at: datetime, release: bool = False) -> None:
    """Commit the driver's writes together with a heartbeat at `at` (or the release of the
    run), if the driver still holds it. Otherwise roll the writes back and raise LeaseLost."""
    values: dict[str, Any] = (
        {"driver_token": None, "driver_heartbeat_at": None}
        if release
        else {"driver_heartbeat_at": at}
    )
    if not _set(lease.run_id, values, BackfillRun.driver_token == lease.token):
        db.session.rollback()
        log.warning("backfill %s: another driver took the run over; stopping", lease.run_id)
        raise LeaseLost(f"backfill {lease.run_id} is now driven by another process")
    db.session.commit()


def release(lease: Lease) -> None:
    """Give the run up (an error, an interrupted CLI) so the next driver need not wait for the
    heartbeat to go stale. Commits; a lease already lost is left alone."""
    _set(
        lease.run_id,
        {"driver_token": None, "driver_heartbeat_at": None},
        BackfillRun.driver_token == lease.token,
    )
    db.session.commit()


def end_reads() -> None:
    """End the transaction the caller's reads opened (nothing is pending when a driver claims
    or starts a step). On SQLite a transaction that has read and then writes fails at once if
    another connection wrote in between (WAL, busy_timeout does not help); one that writes
    first waits its turn."""
    db.session.commit()


def _set(run_id: int, values: dict[str, Any], *conditions: Any) -> bool:
    result = db.session.execute(
        update(BackfillRun)
        .where(BackfillRun.id == run_id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
