"""Training, refreshing and evaluating a shop's recommendations (the database side).

- `train_shop(shop, *, now)`: fit the shop's configuration on its whole history; store each
  reachable customer's list and reorder predictions, the cold-start best sellers and the model
  (nightly, `tasks.train_all_shops`; `flask recommendations train --shop`).
- `refresh_customer(shop, customer, *, now)`: one customer's list and predictions again, from
  the last model's item side and their own orders (after each order, `on_order`; after a link).
- `refresh_due(shop, *, now, within)`: the same for the customers due to reorder by then,
  found by a range scan: the morning refresh before reminders go out, nobody else scored.
- `evaluate_shop(shop, *, now)`: the offline evaluation on the shop's own history; stores its
  scores and makes its production choice (algorithm and tuned parameters) the shop's.

Reachable customers are the ones anything shows recommendations to: linked LINE friends and
members (the LIFF app, LINE messages, the member page). Writes flush; callers commit.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, insert, select, union, update

from server.commerce.models import Customer, Order
from server.db import db
from server.errors import Invalid, NotFound
from server.jobs import enqueue_after_commit
from server.line.models import LineUser
from server.membership.models import Member
from server.shops.models import Shop

from . import evaluation, production
from .algorithms import DEFAULT_RECOMMENDER, RECOMMENDERS, SERVABLE
from .history import ShopHistory, from_days, load_history
from .models import (
    CustomerRecommendation,
    RecommendationModel,
    RecommendationSettings,
    ReorderPrediction,
)
from .training import FloatArray, ReorderSchedule

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
WRITE_BATCH = 5000
# Loaded item sides, keyed by the model row's identity and run facts (ids alone can come back
# on SQLite after a shop's rows are deleted, and one shop must never score with another's).
_loaded: dict[tuple[Any, ...], tuple[production.Production, dict[str, NDArray[Any]]]] = {}
_LOADED_MAX = 4


class NotEnoughHistory(Invalid):
    code = "not_enough_history"


# Settings ---------------------------------------------------------------------------------------


def find_settings(shop: Shop) -> RecommendationSettings | None:
    return db.session.scalar(RecommendationSettings.for_shop(shop))


def ensure_settings(shop: Shop) -> RecommendationSettings:
    settings = find_settings(shop)
    if settings is None:
        settings = RecommendationSettings(shop_id=shop.id, params={}, excluded_product_ids=[])
        db.session.add(settings)
        db.session.flush()
    return settings


def configuration(shop: Shop) -> production.Config:
    """The shop's production choice; the default hybrid until an evaluation has chosen."""
    settings = find_settings(shop)
    if settings is None or settings.algorithm not in SERVABLE:
        return production.Config(DEFAULT_RECOMMENDER, {})
    return production.Config(settings.algorithm, dict(settings.params or {}))


def set_excluded_products(shop: Shop, product_ids: Sequence[int]) -> RecommendationSettings:
    """Products never recommended (applied at serving time, so at once). Raises NotFound for
    ids that are not this shop's products."""
    from server.commerce.models import Product

    wanted = sorted(set(product_ids))
    found = set(
        db.session.scalars(
            select(Product.id).where(Product.shop_id == shop.id, Product.id.in_(wanted))
        )
    )
    if missing := [i for i in wanted if i not in found]:
        raise NotFound(f"no such product: {missing[0]}")
    settings = ensure_settings(shop)
    settings.excluded_product_ids = wanted
    db.session.flush()
    return settings


def latest_model(shop: Shop, *, with_artifact: bool = False) -> RecommendationModel | None:
    statement = RecommendationModel.for_shop(shop)
    if with_artifact:
        statement = statement.where(RecommendationModel.artifact.is_not(None))
    return db.session.scalar(
        statement.order_by(RecommendationModel.trained_at.desc(), RecommendationModel.id.desc())
    )


# Training ---------------------------------------------------------------------------------------


def reachable_customer_ids(shop: Shop) -> NDArray[np.int64]:
    linked = select(LineUser.customer_id).where(
        LineUser.shop_id == shop.id, LineUser.customer_id.is_not(None)
    )
    members = select(Member.customer_id).where(Member.shop_id == shop.id)
    ids = db.session.scalars(union(linked, members)).all()
    return np.array(sorted(int(i) for i in ids if i is not None), dtype=np.int64)


def train_shop(
    shop: Shop,
    *,
    now: datetime,
    progress: Progress | None = None,
    customers: Sequence[int] | None = None,
) -> RecommendationModel:
    """Train the shop's configuration on its history up to `now` and store what it serves.

    Replaces the stored lists and reorder predictions of the reachable customers (or of
    `customers`), stores the model row (with its item side for refreshes) and drops older
    models' item sides. Progress: load, fit, compose, write.
    """
    say = progress or (lambda done, total, label: None)
    began = time.perf_counter()
    say(0, 4, "loading orders")
    history = load_history(shop, now=now)
    config = configuration(shop)
    say(1, 4, f"fitting {config.algorithm}")
    fitted = production.fit(config, history.interactions, history.usage_days)
    audience = np.asarray(customers if customers is not None else reachable_customer_ids(shop))
    users = history.customer_index(audience.tolist())
    users = np.unique(users[users >= 0])
    say(2, 4, f"composing lists for {users.size:,} customers")
    schedule = production.schedule(fitted, history.interactions)
    lists = production.compose(fitted, history.interactions, users, schedule)
    model = RecommendationModel(
        shop_id=shop.id,
        algorithm=config.algorithm,
        params=config.params,
        trained_at=now,
        as_of=now,
        customers=int(users.size),
        products=int(history.product_ids.size),
        lines=len(history.interactions),
        popular=_popular_json(fitted, history),
        artifact=production.save_state(
            fitted, {"product_ids": history.product_ids, "tier_ids": history.tier_ids}
        ),
    )
    db.session.add(model)
    db.session.flush()
    say(3, 4, "writing")
    ids = history.customer_ids[users]
    _write_lists(shop, model, ids, lists, history, now=now, replace_all=customers is None)
    _write_predictions(shop, history, schedule, users, replace_all=customers is None)
    db.session.execute(
        update(RecommendationModel)
        .where(RecommendationModel.shop_id == shop.id, RecommendationModel.id != model.id)
        .values(artifact=None)
    )
    model.seconds = time.perf_counter() - began
    model.peak_mb = _peak_rss_mb()
    db.session.flush()
    say(4, 4, "done")
    log.info(
        "recommendations for shop %s: %s on %d lines, %d customers in %.1f s",
        shop.id,
        config.algorithm,
        model.lines,
        model.customers,
        model.seconds,
    )
    return model


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _popular_json(fitted: production.Production, history: ShopHistory) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for segment, items in production.popular_lists(fitted).items():
        key = "all" if segment < 0 else str(int(history.tier_ids[segment]))
        out[key] = [int(history.product_ids[i]) for i in items]
    return out


def _iso(days: float) -> str:
    return from_days(days).date().isoformat()


def _dates(days: FloatArray) -> list[list[str | None]]:
    """ISO dates of the stored lists' day numbers (NaN: None), one conversion per distinct day."""
    found = ~np.isnan(days)
    distinct, where = np.unique(days[found], return_inverse=True)
    out = np.full(days.shape, None, dtype=object)
    out[found] = np.array([_iso(d) for d in distinct.tolist()], dtype=object)[where]
    return out.tolist()


def stored_items(lists: production.Lists, product_ids: NDArray[np.int64]) -> list[list[Any]]:
    """Each list as CustomerRecommendation.items: {"p", "k"} and "a", "l", "d" when set."""
    products = np.where(lists.items >= 0, product_ids[np.maximum(lists.items, 0)], -1).tolist()
    anchors = np.where(lists.anchors >= 0, product_ids[np.maximum(lists.anchors, 0)], -1).tolist()
    kinds, last, due = lists.kinds.tolist(), _dates(lists.last), _dates(lists.due)
    names = production.KINDS
    out = []
    for row_products, row_kinds, row_anchors, row_last, row_due in zip(
        products, kinds, anchors, last, due, strict=True
    ):
        items = []
        for product, kind, anchor, bought, runs_out in zip(
            row_products, row_kinds, row_anchors, row_last, row_due, strict=True
        ):
            if product < 0:
                break
            item: dict[str, Any] = {"p": product, "k": names[kind]}
            if anchor >= 0:
                item["a"] = anchor
            if bought is not None:
                item["l"] = bought
            if runs_out is not None:
                item["d"] = runs_out
            items.append(item)
        out.append(items)
    return out


def _write_lists(
    shop: Shop,
    model: RecommendationModel,
    customer_ids: NDArray[np.int64],
    lists: production.Lists,
    history: ShopHistory,
    *,
    now: datetime,
    replace_all: bool,
) -> None:
    table = CustomerRecommendation
    statement = delete(CustomerRecommendation).where(CustomerRecommendation.shop_id == shop.id)
    if not replace_all:
        statement = statement.where(CustomerRecommendation.customer_id.in_(customer_ids.tolist()))
    db.session.execute(statement)
    ids = customer_ids.tolist()
    for start in range(0, len(ids), WRITE_BATCH):
        part = slice(start, start + WRITE_BATCH)
        rows = [
            {
                "shop_id": shop.id,
                "customer_id": int(customer_id),
                "model_id": model.id,
                "computed_at": now,
                "items": items,
            }
            for customer_id, items in zip(
                ids[part], stored_items(lists.rows(part), history.product_ids), strict=True
            )
        ]
        db.session.execute(insert(table), rows)


def _write_predictions(
    shop: Shop,
    history: ShopHistory,
    schedule: ReorderSchedule,
    users: NDArray[Any],
    *,
    replace_all: bool,
) -> None:
    keep = np.isin(schedule.users, users)
    statement = delete(ReorderPrediction).where(ReorderPrediction.shop_id == shop.id)
    if not replace_all:
        ids = history.customer_ids[users].tolist()
        statement = statement.where(ReorderPrediction.customer_id.in_(ids))
    db.session.execute(statement)
    table = ReorderPrediction
    batch: list[dict[str, Any]] = []
    subscribed = history.subscribed
    for row in np.flatnonzero(keep).tolist():
        user, item = int(schedule.users[row]), int(schedule.items[row])
        batch.append(
            {
                "shop_id": shop.id,
                "customer_id": int(history.customer_ids[user]),
                "product_id": int(history.product_ids[item]),
                "last_purchased_at": from_days(schedule.last_at[row]),
                "cycle_days": float(schedule.cycle_days[row]),
                "due_at": from_days(schedule.due_at[row]),
                "purchases": int(schedule.purchases[row]),
                "subscribed": (user, item) in subscribed,
            }
        )
        if len(batch) >= WRITE_BATCH:
            db.session.execute(insert(table), batch)
            batch = []
    if batch:
        db.session.execute(insert(table), batch)


# Refreshing -------------------------------------------------------------------------------------


def _loaded_model(model: RecommendationModel) -> tuple[production.Production, dict[str, Any]]:
    key = (model.id, model.shop_id, model.trained_at.isoformat(), model.lines, model.seconds)
    found = _loaded.get(key)
    if found is None:
        if model.artifact is None:
            raise NotFound("the model's state was dropped")
        found = production.load_state(model.artifact)
        if len(_loaded) >= _LOADED_MAX:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = found
    return found


def refresh_customers(
    shop: Shop, customer_ids: Sequence[int], *, now: datetime
) -> RecommendationModel | None:
    """These customers' lists and predictions from their own orders and the last model.

    Nothing happens before the shop's first training (the cold start serves best sellers).
    A customer with no orders left (all cancelled) loses their stored list and predictions.
    """
    model = latest_model(shop, with_artifact=True)
    if model is None or not customer_ids:
        return None
    fitted, extra = _loaded_model(model)
    history = load_history(
        shop,
        now=now,
        customer_ids=customer_ids,
        product_ids=extra["product_ids"],
        tier_ids=extra["tier_ids"],
    )
    folded = production.fold_in(fitted, history.interactions)
    users = np.arange(history.customer_ids.size, dtype=np.int32)
    schedule = production.schedule(folded, history.interactions)
    lists = production.compose(folded, history.interactions, users, schedule)
    gone = sorted(set(customer_ids) - set(history.customer_ids.tolist()))
    if gone:
        db.session.execute(
            delete(CustomerRecommendation).where(
                CustomerRecommendation.shop_id == shop.id,
                CustomerRecommendation.customer_id.in_(gone),
            )
        )
        db.session.execute(
            delete(ReorderPrediction).where(
                ReorderPrediction.shop_id == shop.id, ReorderPrediction.customer_id.in_(gone)
            )
        )
    _write_lists(shop, model, history.customer_ids, lists, history, now=now, replace_all=False)
    _write_predictions(shop, history, schedule, users, replace_all=False)
    db.session.flush()
    return model


def refresh_customer(shop: Shop, customer: Customer, *, now: datetime) -> None:
    if customer.shop_id != shop.id:
        raise NotFound("no such customer")
    refresh_customers(shop, [customer.id], now=now)


def refresh_due(shop: Shop, *, now: datetime, within: timedelta = timedelta(days=1)) -> int:
    """Refresh the customers due to reorder by `now + within` (a range scan finds them);
    returns how many."""
    from .serving import due_to_reorder

    due = due_to_reorder(shop, now=now, within=within)
    for start in range(0, len(due), WRITE_BATCH):
        refresh_customers(shop, due[start : start + WRITE_BATCH], now=now)
    return len(due)


# Listeners (shopify/topics.py, linking/services.py) ---------------------------------------------


def on_order(shop: Shop, order: Order, *, now: datetime) -> None:
    """ORDER_LISTENERS entry: the customer's list follows their orders (after the commit)."""
    if order.customer_id is None:
        return
    from .tasks import refresh_customer_task

    enqueue_after_commit(refresh_customer_task, shop.id, order.customer_id)


def on_link(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> None:
    """LINK_LISTENERS entry: a newly linked customer is reachable: give them their list."""
    from .tasks import refresh_customer_task

    enqueue_after_commit(refresh_customer_task, shop.id, customer.id)


def redact_customer(shop: Shop, customer: Customer, *, now: datetime) -> None:
    """CUSTOMER_REDACT_LISTENERS entry: what was derived from their orders goes."""
    for model in (CustomerRecommendation, ReorderPrediction):
        db.session.execute(
            delete(model).where(model.shop_id == shop.id, model.customer_id == customer.id)
        )


# Offline evaluation on the shop's own history ---------------------------------------------------


def evaluate_shop(
    shop: Shop,
    *,
    now: datetime,
    algorithms: Sequence[str] | None = None,
    progress: evaluation.Progress | None = None,
) -> evaluation.Report:
    """Run the offline evaluation on the shop's orders; store the scores and make the
    production choice (algorithm + parameters per setting, tuned on validation) the shop's.

    Raises NotEnoughHistory when the split leaves nobody to evaluate.
    """
    history = load_history(shop, now=now)
    interactions = history.interactions
    if len(interactions) == 0 or np.unique(interactions.times.astype(np.int64)).size < 10:
        raise NotEnoughHistory("the shop needs orders on at least ten days to evaluate")
    dataset = evaluation.Dataset(
        shop.domain, interactions, history.customer_ids, history.product_ids
    )
    validations, test = evaluation.evaluation_splits(interactions)
    if any(v.users(s).size == 0 for v in validations for s in evaluation.SETTINGS) or any(
        test.users(s).size == 0 for s in evaluation.SETTINGS
    ):
        raise NotEnoughHistory("too few customers came back in the later periods to evaluate")
    names = list(algorithms or RECOMMENDERS)
    report = evaluation.evaluate(dataset, names, progress=progress)
    settings = ensure_settings(shop)
    settings.algorithm = report.production
    settings.params = {s: report.result(report.production, s).params for s in evaluation.SETTINGS}
    settings.evaluation = {
        **evaluation.to_json(report),
        "meta": {
            "dataset": report.dataset,
            "lines": report.lines,
            "customers": report.customers,
            "products": report.products,
            "users": report.users,
            "cutoffs": {k: from_days(v).isoformat() for k, v in report.cutoffs.items()},
            "production": report.production,
        },
    }
    settings.evaluated_at = now.astimezone(UTC)
    db.session.flush()
    return report
