"""factory_boy factories, one module per feature, writing through the test's db.session."""

from __future__ import annotations

import factory

from server.db import db


class ModelFactory(factory.alchemy.SQLAlchemyModelFactory):  # type: ignore[misc]
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - the session of the moment
        sqlalchemy_session_persistence = "flush"
