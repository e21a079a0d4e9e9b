"""Stable random assignment to a holdout group.

A subject (a customer, a LINE friend) falls in one of 10,000 buckets given by HMAC-SHA256 of
the send's salt over the subject's id: the same subject always lands in the same bucket for
the same salt, so re-running an enrollment or a broadcast never moves anyone between groups,
and two sends with different salts hold out independent groups. Percentages have a resolution
of 0.01 %.
"""

from __future__ import annotations

import hashlib
import hmac

BUCKETS = 10_000


def bucket(salt: str, subject_id: int | str) -> int:
    """The subject's bucket, 0..9999, for this salt."""
    digest = hmac.new(salt.encode(), str(subject_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_holdout(salt: str, subject_id: int | str, percent: float) -> bool:
    """Whether the subject is held out (receives nothing) when `percent` % are held out."""
    if not 0 <= percent <= 100:
        raise ValueError("holdout percent must be between 0 and 100")
    return bucket(salt, subject_id) < round(percent * BUCKETS / 100)
