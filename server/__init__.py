"""Kizuna, a LINE CRM for Shopify merchants. `create_app` wires the Flask app and nothing else."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from server.version import __version__ as __version__


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    from . import cli, config, errors, extensions, i18n, jobs, models

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.load(os.environ))
    if test_config is not None:
        app.config.update(test_config)
    config.validate(app.config)
    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    models.import_all()
    extensions.init_app(app)
    errors.init_app(app)
    jobs.init_app(app)
    i18n.init_app(app)

    from . import admin, health, liff_api

    app.register_blueprint(health.bp)
    from .shopify import auth as shopify_auth
    from .shopify import proxy as shopify_proxy
    from .shopify import webhooks as shopify_webhooks

    app.register_blueprint(shopify_auth.bp)
    app.register_blueprint(shopify_webhooks.bp)
    app.register_blueprint(shopify_proxy.create_blueprint())
    app.register_blueprint(admin.create_pages_blueprint())
    app.register_blueprint(admin.create_api_blueprint())
    app.register_blueprint(liff_api.create_blueprint())
    app.register_blueprint(liff_api.create_static_blueprint())
    from .campaigns import views as campaign_views
    from .line import webhook as line_webhook
    from .linking import views as linking_views

    app.register_blueprint(line_webhook.bp)
    app.register_blueprint(linking_views.bp)
    app.register_blueprint(campaign_views.bp)
    if app.config["DEMO"]:
        from .admin import demo

        app.register_blueprint(demo.bp)
    cli.init_app(app)
    return app
