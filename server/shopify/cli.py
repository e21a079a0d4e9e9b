"""`flask --app server shopify ...`: operator commands for the Shopify side."""

from __future__ import annotations

import time
from typing import Any

import click
from flask.cli import with_appcontext

from server.db import commit, db, utcnow
from server.shops.services import find_shop

from . import backfill, lease
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
    """Import (or resume) the shop's products, customers and orders, with a progress bar.

    When a worker is importing the run already, watch its progress instead (and take over if
    it stops: no heartbeat for five minutes)."""
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
    held = lease.claim(run, now=utcnow())
    if held is None and not run.finished:
        click.echo(f"{domain}: {_holder(run)} is importing this history; watching its progress")
    try:
        with click.progressbar(length=100, label="Importing", show_percent=True) as bar:
            progress = _Progress(bar)
            while not run.finished:
                if held is None:
                    time.sleep(poll)
                    # Takes the run if its driver let go or went silent; either way `run` is
                    # reloaded with what that driver committed since.
                    held = lease.claim(run, now=utcnow())
                    if held is not None:
                        click.echo(f"{domain}: the other driver stopped; importing here")
                else:
                    try:
                        if backfill.step(shop, run, held, now=utcnow()) == "wait":
                            time.sleep(poll)
                    except lease.LeaseLost:
                        held = None
                        click.echo(f"{domain}: {_holder(run)} took the import over; watching")
                progress.show(run)
    except BaseException:
        db.session.rollback()
        if held is not None and not run.finished:
            lease.release(held)  # Ctrl-C or an error: the worker may take over at once
        raise
    elapsed = time.perf_counter() - started
    if run.status != "completed":
        raise click.ClickException(f"the import failed: {run.error}")
    click.echo(f"{domain}: imported {_counts(run)} in {elapsed:.1f} s")


def _holder(run: BackfillRun) -> str:
    db.session.refresh(run)
    if run.driver_heartbeat_at is None:
        return "another process"
    age = (utcnow() - run.driver_heartbeat_at).total_seconds()
    return f"another process (last heartbeat {age:.0f} s ago)"


class _Progress:
    """A bar on a terminal; one line per step of progress otherwise (logs, CI)."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.shown, self.stage = bar, 0, ""

    def show(self, run: BackfillRun) -> None:
        if run.percent <= self.shown and run.stage == self.stage:
            return
        if self.bar._is_atty:  # click draws the bar only on a terminal
            self.bar.label = f"{run.stage:>9}"
            self.bar.update(run.percent - self.shown)
        else:
            click.echo(f"{run.percent:3d}% {run.stage} ({_counts(run)})")
        self.shown, self.stage = run.percent, run.stage


def _counts(run: BackfillRun) -> str:
    return ", ".join(f"{run.imported.get(s, 0)} {s}" for s in run.STAGES)
