"""`flask recommendations ...`: train a shop's model, and the offline evaluation (on public
data sets, or on a shop's own history, which then chooses that shop's production model)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from server.db import commit, db, utcnow
from server.shops.models import Shop

from . import evaluation, services
from .algorithms import RECOMMENDERS

cli = AppGroup("recommendations", help="Recommendation models: training and offline evaluation.")


def _shop(domain: str) -> Shop:
    shop = db.session.scalar(select(Shop).where(Shop.domain == domain))
    if shop is None:
        raise click.BadParameter(f"no shop {domain!r}", param_hint="--shop")
    return shop


@contextmanager
def _bar(label: str, length: int) -> Iterator[Any]:
    with click.progressbar(
        length=length, label=label, file=sys.stderr, item_show_func=lambda text: text
    ) as bar:
        yield bar


def _advance(bar: Any, done: int, total: int, label: str) -> None:
    # click's ProgressBar class is private, hence Any; `done` is absolute, update() is relative.
    bar.update(done - bar.pos, label)
    if not sys.stderr.isatty():  # a run logged to a file: click draws no bar there, so a line
        click.echo(f"{utcnow():%H:%M:%S} {done}/{total} {label}", err=True)


@cli.command("train")
@click.option("--shop", "domain", required=True, help="The shop's myshopify.com domain.")
def train_command(domain: str) -> None:
    """Train the shop's model on its orders and store every reachable customer's list."""
    shop = _shop(domain)
    with _bar(f"training {shop.domain}", 4) as bar:
        model = services.train_shop(shop, now=utcnow(), progress=functools.partial(_advance, bar))
    commit()
    click.echo(
        f"{model.algorithm}: {model.lines:,} order lines, {model.products:,} products, "
        f"lists for {model.customers:,} customers in {model.seconds:.1f} s "
        f"(peak {model.peak_mb:,.0f} MB)."
    )


@cli.command("evaluate")
@click.option(
    "--data",
    "paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Online Retail .csv.gz or Ta-Feng .zip (or its folder); repeat for several.",
)
@click.option(
    "--shop",
    "domain",
    default=None,
    help="Evaluate on this shop's orders and make the result its production choice.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--save-json",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the --json output to this file (the table is still printed).",
)
@click.option(
    "--limit-users",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate a random sample of this many customers (quick runs).",
)
@click.option(
    "--algorithm",
    "algorithms",
    multiple=True,
    type=click.Choice(list(RECOMMENDERS)),
    help="Only these algorithms (default: all).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    help="Evaluate this many algorithms at a time, one process each (data sets only).",
)
def evaluate_command(
    paths: tuple[Path, ...],
    domain: str | None,
    as_json: bool,
    save_json: Path | None,
    limit_users: int | None,
    algorithms: tuple[str, ...],
    workers: int,
) -> None:
    """Tune on validation splits, score on the test split, print one table per data set.

    With one data set, --json prints {"all": {...}, "new": {...}} (the production algorithm
    under "production" too); with several, one such object per data set name.
    """
    if not paths and domain is None:
        raise click.UsageError("give --data (repeatable) or --shop")
    names = list(algorithms or RECOMMENDERS)
    reports = []
    for path in paths:
        click.echo(f"loading {path}...", err=True)
        dataset = evaluation.load_dataset(path)
        with _bar(dataset.name, len(names)) as bar:
            reports.append(
                evaluation.evaluate(
                    dataset,
                    names,
                    limit_users=limit_users,
                    progress=functools.partial(_advance, bar),
                    workers=workers,
                )
            )
    if domain is not None:
        shop = _shop(domain)
        with _bar(shop.domain, len(names)) as bar:
            reports.append(
                services.evaluate_shop(
                    shop, now=utcnow(), algorithms=names, progress=functools.partial(_advance, bar)
                )
            )
        commit()
    results = [evaluation.to_json(report) for report in reports]
    payload = json.dumps(
        results[0]
        if len(results) == 1
        else {r.dataset: j for r, j in zip(reports, results, strict=True)},
        indent=2,
    )
    if save_json is not None:
        save_json.write_text(payload + "\n", encoding="utf-8")
    if as_json:
        click.echo(payload)
    else:
        click.echo("\n\n".join(evaluation.format_table(report) for report in reports))
