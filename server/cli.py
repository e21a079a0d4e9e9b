"""Flask CLI commands: `demo`, plus each feature's command group."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from .db import commit, utcnow


@click.command("demo")
@click.option("--customers", default=2000, show_default=True, help="How many demo customers.")
@with_appcontext
def demo(customers: int) -> None:
    """Seed the demo shop (a Japanese D2C brand with 18 months of orders). Safe to run twice."""
    from .demo.seed import seed_demo_shop

    started = time.perf_counter()
    result = seed_demo_shop(
        now=utcnow(), customers=customers, progress=lambda step: click.echo(f"  … {step}")
    )
    commit()
    from .inbox.demo import seed_demo_inbox

    if conversations := seed_demo_inbox(result.shop, now=utcnow()):
        commit()
        click.echo(f"  … inbox: {conversations} conversations, FAQ entries, saved replies")
    verb = "Seeded" if result.created else "Already seeded"
    click.echo(
        f"{verb} {result.shop.name} ({result.shop.domain}): {result.products} products, "
        f"{result.customers} customers, {result.orders} orders, {result.line_users} LINE friends "
        f"in {time.perf_counter() - started:.1f} s."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(demo)
    from .recommendations.cli import cli as recommendations
    from .shopify.cli import shopify

    app.cli.add_command(shopify)
    app.cli.add_command(recommendations)
