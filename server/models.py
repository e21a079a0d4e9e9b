"""Every feature's models, imported so SQLAlchemy (and Alembic's autogenerate) knows all tables.

tests/test_migrations.py checks this list against the models.py files on disk.
"""

from __future__ import annotations

import importlib

MODEL_MODULES: tuple[str, ...] = (
    "server.shops.models",
    "server.commerce.models",
    "server.line.models",
    "server.ingest.models",
    "server.membership.models",
    "server.coupons.models",
    "server.segments.models",
    "server.shopify.models",
    "server.inbox.models",
    "server.linking.models",
    "server.campaigns.models",
    "server.recommendations.models",
)


def import_all() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
