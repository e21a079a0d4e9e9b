"""`flask --app server shopify ...`: operator commands for the Shopify side."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from server.db import commit, utcnow
from server.shops.services import find_shop

from . import backfill
from .models import BackfillRun


@click.group("shopify")
def shopify() -> None:
    """Shopify: history backfill."""


@shopify.command("backfill")
@click.option("--shop", "domain", required=True, help="The shop, e.g. example.myshopify.com.")
@click.option("--restart", is_flag=True, help="Start a new import even if one completed.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between status checks.")
@with_appcontext
def backfill_command(domain: str, restart: bool, poll: float) -> None:
    """Import (or resume) the shop's products, customers and orders, with a progress bar."""
    shop = find_shop(domain)
    if shop is None or not shop.installed:
        raise click.ClickException(f"{domain} is not an installed shop")
    run = backfill.start(shop, now=utcnow(), force=restart)
    commit()
    if run.status == "completed":
        when = f"{run.finished_at:%Y-%m-%d}" if run.finished_at else "earlier"
        click.echo(f"{domain}: the history was imported {when}; --restart imports it again")
        return
    started = time.perf_counter()
    # A bar on a terminal; one line per step of progress otherwise (logs, CI).
    with click.progressbar(length=100, label="Importing", show_percent=True) as bar:
        shown, stage = 0, ""
        outcome = "continue"
        while outcome != "done":
            outcome = backfill.step(shop, run, now=utcnow())
            if run.percent > shown or run.stage != stage:
                if bar._is_atty:  # click draws the bar only on a terminal
                    bar.label = f"{run.stage:>9}"
                    bar.update(run.percent - shown)
                else:
                    click.echo(f"{run.percent:3d}% {run.stage} ({_counts(run)})")
                shown, stage = run.percent, run.stage
            if outcome == "wait":
                time.sleep(poll)
    elapsed = time.perf_counter() - started
    if run.status != "completed":
        raise click.ClickException(f"the import failed: {run.error}")
    click.echo(f"{domain}: imported {_counts(run)} in {elapsed:.1f} s")


def _counts(run: BackfillRun) -> str:
    return ", ".join(f"{run.imported.get(s, 0)} {s}" for s in run.STAGES)
