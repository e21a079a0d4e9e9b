"""`flask recommendations ...`: the offline evaluation. Pure computation, no database."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from . import evaluation
from .algorithms import RECOMMENDERS

cli = AppGroup("recommendations", help="Recommendation models: offline evaluation.")


@cli.command("evaluate", with_appcontext=False)
@click.option(
    "--data",
    "paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Online Retail .csv.gz or Ta-Feng .zip (or its folder); repeat for several.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
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
def evaluate_command(
    paths: tuple[Path, ...],
    as_json: bool,
    limit_users: int | None,
    algorithms: tuple[str, ...],
) -> None:
    """Tune on a validation split, score on the test split, print one table per data set.

    With one --data, --json prints {"all": {...}, "new": {...}}; with several, one such object
    per data set name.
    """
    reports = []
    for path in paths:
        click.echo(f"loading {path}...", err=True)
        dataset = evaluation.load_dataset(path)
        with click.progressbar(
            length=2 * len(algorithms or RECOMMENDERS),
            label=dataset.name,
            file=sys.stderr,
            item_show_func=lambda label: label,
        ) as bar:
            reports.append(
                evaluation.evaluate(
                    dataset,
                    algorithms or None,
                    limit_users=limit_users,
                    progress=functools.partial(_advance, bar),
                )
            )
    if as_json:
        results = [evaluation.to_json(report) for report in reports]
        payload = (
            results[0]
            if len(results) == 1
            else {r.dataset: j for r, j in zip(reports, results, strict=True)}
        )
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo("\n\n".join(evaluation.format_table(report) for report in reports))


def _advance(bar: Any, done: int, total: int, label: str) -> None:
    # click's ProgressBar class is private, hence Any; `done` is absolute, update() is relative.
    bar.update(done - bar.pos, label)
