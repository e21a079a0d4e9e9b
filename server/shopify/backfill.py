"""The shop's full history through GraphQL bulk operations: products, then customers, then orders.

https://shopify.dev/docs/api/usage/bulk-operations/queries
For each stage: start `bulkOperationRunQuery`, wait (poll `currentBulkOperation`, or the
bulk_operations/finish webhook), then stream the JSONL result and upsert it in batches through
server/commerce/sync.py. One BackfillRun row records where things are; every batch commits its
rows together with `lines_done`, so a crash resumes at the next line (the result URL is valid
for 7 days; after that the stage's query runs again, and upserts make repeats harmless).

Bulk JSONL puts each nested connection's objects on their own lines, with `__parentId`, right
after their parent (objects are grouped in API 2025-04); a batch is cut only before a root line,
so a parent and its children always land in the same batch.

`step(shop, run, lease, now=...)` advances one notch and says what to do next; the worker task
(tasks.advance_backfill) and the CLI (`flask --app server shopify backfill --shop X`) drive it,
one driver at a time: each holds a lease on the run (server/shopify/lease.py), and every
commit here goes through `commit_holding`, which renews it or, if another driver took the run
over, rolls back and raises LeaseLost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from server import http
from server.commerce import sync
from server.commerce.money import to_minor
from server.db import db
from server.shops.models import Shop

from .client import graphql
from .errors import ShopifyError, ShopifyUserError, ShopNotConnected
from .lease import Lease, commit_holding, end_reads
from .models import BackfillRun
from .payloads import gid_to_id, parse_time

log = logging.getLogger(__name__)

BATCH_ROOTS = 500  # root objects (orders, customers, products) per transaction

COUNTS = """
query BackfillCounts {
  productsCount(limit: null) { count precision }
  customersCount { count precision }
  ordersCount(limit: null) { count precision }
}
"""

RUN_BULK_QUERY = """
mutation BackfillStart($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

CURRENT_BULK_OPERATION = """
query BackfillPoll {
  currentBulkOperation(type: QUERY) {
    id status errorCode objectCount rootObjectCount fileSize url partialDataUrl
  }
}
"""

# The inner queries run by Shopify; they are documents too (validated against the schema).
PRODUCTS_BULK = """
{
  products {
    edges { node {
      id title handle productType vendor tags status description updatedAt
      featuredImage { url }
      sellingPlanGroupsCount { count }
      variants { edges { node {
        id title sku position price compareAtPrice inventoryQuantity availableForSale
      } } }
    } }
  }
}
"""

CUSTOMERS_BULK = """
{
  customers {
    edges { node {
      id firstName lastName tags locale state createdAt updatedAt
      defaultEmailAddress { emailAddress marketingState }
      defaultPhoneNumber { phoneNumber }
    } }
  }
}
"""

ORDERS_BULK = """
{
  orders {
    edges { node {
      id name email processedAt createdAt updatedAt cancelledAt cancelReason
      displayFinancialStatus displayFulfillmentStatus tags sourceName discountCodes
      subtotalPriceSet { shopMoney { amount } }
      totalDiscountsSet { shopMoney { amount } }
      totalPriceSet { shopMoney { amount } }
      customer { id }
      refunds { id totalRefundedSet { shopMoney { amount } } }
      lineItems { edges { node {
        id title variantTitle sku quantity
        originalUnitPriceSet { shopMoney { amount } }
        totalDiscountSet { shopMoney { amount } }
        product { id }
        variant { id }
        sellingPlan { sellingPlanId name }
      } } }
    } }
  }
}
"""

BULK_QUERIES = {"products": PRODUCTS_BULK, "customers": CUSTOMERS_BULK, "orders": ORDERS_BULK}


class BackfillFailed(ShopifyError):
    code = "backfill_failed"


# -- running ----------------------------------------------------------------------------------


def current_run(shop: Shop) -> BackfillRun | None:
    return db.session.scalar(BackfillRun.for_shop(shop).order_by(BackfillRun.id.desc()).limit(1))


def start(shop: Shop, *, now: datetime, force: bool = False) -> BackfillRun:
    """The shop's running backfill, or a new one. A finished run is only repeated with `force`
    (or when it failed)."""
    run = current_run(shop)
    if run is not None and not run.finished:
        return run
    if run is not None and run.status == "completed" and not force:
        return run
    run = BackfillRun(shop_id=shop.id, status="pending", stage="products", started_at=now)
    db.session.add(run)
    db.session.flush()
    return run


def step(shop: Shop, run: BackfillRun, lease: Lease, *, now: datetime) -> str:
    """Advance `run` by one notch as the holder of `lease` (lease.claim). Returns "continue"
    (call again now), "wait" (Shopify is still working: poll again in a few seconds) or "done"
    (the lease is released). Commits as it goes, each commit renewing the lease; raises
    LeaseLost, having written nothing more, when another driver has taken the run over."""
    clock = _Clock(lease, now)
    end_reads()
    clock.commit()  # still ours? Checked before anything is asked of Shopify
    if run.finished:
        clock.commit(release=True)
        return "done"
    try:
        if run.status == "pending":
            _count(shop, run)
            run.status = "running"
            clock.commit()
            return "continue"
        if run.bulk_operation_id is None:
            return _start_stage(shop, run, clock)
        if run.bulk_status != "completed":
            return _poll(shop, run, clock)
        _import_file(shop, run, clock, now=now)
        return _next_stage(run, clock, now=now)
    except (BackfillFailed, ShopNotConnected) as error:
        db.session.rollback()  # a half-saved batch is not kept with the failure
        run.status = "failed"
        run.error = error.message
        run.finished_at = now
        clock.commit(release=True)
        log.warning("backfill %s of shop %s failed: %s", run.id, shop.id, error.message)
        return "done"


class _Clock:
    """The driver's commits: `now` as the step began, moved on by the time spent since, so
    the heartbeats of a long import stay current (and tests can still inject `now`)."""

    def __init__(self, lease: Lease, now: datetime) -> None:
        self.lease, self.now, self.began = lease, now, time.monotonic()

    def commit(self, *, release: bool = False) -> None:
        at = self.now + timedelta(seconds=time.monotonic() - self.began)
        commit_holding(self.lease, at=at, release=release)


def bulk_operation_finished(shop: Shop, operation_id: str, *, now: datetime) -> BackfillRun | None:
    """bulk_operations/finish: the run waiting for this operation can go on. A worker holding
    the run sees it at its next poll; this wakes a run nobody drives any more."""
    run = db.session.scalar(
        BackfillRun.for_shop(shop).where(BackfillRun.bulk_operation_id == operation_id)
    )
    if run is not None and not run.finished:
        from server.jobs import enqueue_after_commit

        from .tasks import advance_backfill

        enqueue_after_commit(advance_backfill, run.id)
    return run


def _count(shop: Shop, run: BackfillRun) -> None:
    data = graphql(shop, COUNTS)
    run.totals = {
        kind: int((data.get(f"{kind}Count") or {}).get("count") or 0) for kind in BackfillRun.STAGES
    }
    run.imported = dict.fromkeys(BackfillRun.STAGES, 0)


def _start_stage(shop: Shop, run: BackfillRun, clock: _Clock) -> str:
    try:
        data = graphql(shop, RUN_BULK_QUERY, {"query": BULK_QUERIES[run.stage]})
    except ShopifyUserError as error:
        if "already in progress" in error.message:
            return "wait"  # one bulk query at a time per shop: another one is finishing
        raise BackfillFailed(f"Shopify refused the {run.stage} export: {error.message}") from error
    operation = data["bulkOperationRunQuery"]["bulkOperation"]
    run.bulk_operation_id = operation["id"]
    run.bulk_status = str(operation.get("status") or "created").lower()
    run.lines_done = 0
    run.result_url = None
    clock.commit()
    return "wait"


def _poll(shop: Shop, run: BackfillRun, clock: _Clock) -> str:
    operation = graphql(shop, CURRENT_BULK_OPERATION).get("currentBulkOperation")
    if not operation or operation.get("id") != run.bulk_operation_id:
        # Ours is no longer the current one: it was replaced or lost. Run the stage again.
        run.bulk_operation_id = None
        run.bulk_status = None
        clock.commit()
        return "continue"
    status = str(operation.get("status") or "").lower()
    run.bulk_status = status
    if status == "completed":
        run.result_url = operation.get("url")  # None: the stage has no objects at all
        clock.commit()
        return "continue"
    if status in ("failed", "canceled", "cancelled", "expired"):
        raise BackfillFailed(
            f"the {run.stage} export ended {status} ({operation.get('errorCode') or 'no code'})"
        )
    clock.commit()
    return "wait"


def _next_stage(run: BackfillRun, clock: _Clock, *, now: datetime) -> str:
    stages = BackfillRun.STAGES
    position = stages.index(run.stage)
    run.bulk_operation_id = None
    run.bulk_status = None
    run.result_url = None
    run.lines_done = 0
    if position + 1 < len(stages):
        run.stage = stages[position + 1]
        clock.commit()
        return "continue"
    run.status = "completed"
    run.finished_at = now
    clock.commit(release=True)
    return "done"


# -- reading the JSONL ---------------------------------------------------------------------------


@dataclass
class _Root:
    line: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)


def _import_file(shop: Shop, run: BackfillRun, clock: _Clock, *, now: datetime) -> None:
    if not run.result_url:
        return
    convert = _CONVERTERS[run.stage]
    batch: list[_Root] = []
    consumed = run.lines_done
    for number, raw in enumerate(_lines(run.result_url), start=1):
        if number <= run.lines_done:
            continue  # imported before a crash
        line = json.loads(raw)
        if "__parentId" in line and batch:
            batch[-1].children.append(line)
        elif "__parentId" not in line:
            if len(batch) >= BATCH_ROOTS:
                _save(shop, run, clock, convert, batch, lines_done=consumed, now=now)
                batch = []
            batch.append(_Root(line))
        consumed = number
    if batch:
        _save(shop, run, clock, convert, batch, lines_done=consumed, now=now)


def _save(
    shop: Shop,
    run: BackfillRun,
    clock: _Clock,
    convert: Callable[[Shop, list[_Root], datetime], int],
    batch: list[_Root],
    *,
    lines_done: int,
    now: datetime,
) -> None:
    convert(shop, batch, now)
    run.lines_done = lines_done
    run.imported = {**run.imported, run.stage: int(run.imported.get(run.stage, 0)) + len(batch)}
    clock.commit()  # the rows, the resume point and the heartbeat together
    # Keep the session small: a whole history of ORM objects would slow every later flush.
    for obj in list(db.session.identity_map.values()):
        if obj is not shop and obj is not run:
            db.session.expunge(obj)


def _lines(url: str) -> Iterator[bytes]:
    try:
        response = http.request("GET", url, stream=True, timeout=(3.05, 60.0))
    except http.RequestException as error:
        raise ShopifyError(f"could not download the bulk result: {type(error).__name__}") from error
    if response.status_code in (403, 404, 410):
        raise BackfillFailed("the bulk result is no longer available; start the backfill again")
    if response.status_code != 200:
        raise ShopifyError(f"bulk result download: HTTP {response.status_code}")
    with response:
        for raw in response.iter_lines(chunk_size=1 << 16):
            if raw:
                yield raw


def _money(value: Any, currency: str) -> int:
    amount = ((value or {}).get("shopMoney") or {}).get("amount")
    return to_minor(amount or "0", currency)


def _products(shop: Shop, batch: list[_Root], now: datetime) -> int:
    records = []
    for root in batch:
        node = root.line
        records.append(
            sync.ProductData(
                shopify_id=gid_to_id(node["id"]) or 0,
                title=str(node.get("title") or ""),
                handle=str(node.get("handle") or ""),
                product_type=str(node.get("productType") or ""),
                vendor=str(node.get("vendor") or ""),
                tags=[str(t) for t in node.get("tags") or []],
                status=str(node.get("status") or "ACTIVE").lower(),
                image_url=(node.get("featuredImage") or {}).get("url"),
                description=str(node.get("description") or ""),
                subscribable=int((node.get("sellingPlanGroupsCount") or {}).get("count") or 0) > 0,
                updated_at=parse_time(node.get("updatedAt")),
                variants=[
                    sync.VariantData(
                        shopify_id=gid_to_id(v["id"]) or 0,
                        title=str(v.get("title") or ""),
                        sku=v.get("sku") or None,
                        position=int(v.get("position") or 1),
                        price=to_minor(v.get("price") or "0", shop.currency),
                        compare_at_price=(
                            to_minor(v["compareAtPrice"], shop.currency)
                            if v.get("compareAtPrice")
                            else None
                        ),
                        inventory_quantity=v.get("inventoryQuantity"),
                        available=bool(v.get("availableForSale", True)),
                    )
                    for v in root.children
                ],
            )
        )
    sync.upsert_products(shop, records)
    return len(records)


def _customers(shop: Shop, batch: list[_Root], now: datetime) -> int:
    records = []
    for root in batch:
        node = root.line
        email = node.get("defaultEmailAddress") or {}
        records.append(
            sync.CustomerData(
                shopify_id=gid_to_id(node["id"]) or 0,
                email=email.get("emailAddress"),
                first_name=node.get("firstName"),
                last_name=node.get("lastName"),
                phone=(node.get("defaultPhoneNumber") or {}).get("phoneNumber"),
                tags=[str(t) for t in node.get("tags") or []],
                locale=node.get("locale"),
                accepts_marketing=email.get("marketingState") == "SUBSCRIBED",
                state=str(node.get("state") or "ENABLED").lower(),
                created_at=parse_time(node.get("createdAt")),
                updated_at=parse_time(node.get("updatedAt")),
            )
        )
    return sync.import_customers(shop, records, now=now)


def _orders(shop: Shop, batch: list[_Root], now: datetime) -> int:
    currency = shop.currency
    records = []
    for root in batch:
        node = root.line
        customer_id = gid_to_id((node.get("customer") or {}).get("id"))
        processed = parse_time(node.get("processedAt")) or parse_time(node.get("createdAt"))
        records.append(
            sync.OrderData(
                shopify_id=gid_to_id(node["id"]) or 0,
                processed_at=processed or now,
                name=str(node.get("name") or ""),
                email=node.get("email"),
                currency=currency,
                subtotal_price=_money(node.get("subtotalPriceSet"), currency),
                total_discounts=_money(node.get("totalDiscountsSet"), currency),
                total_price=_money(node.get("totalPriceSet"), currency),
                financial_status=str(node.get("displayFinancialStatus") or "").lower() or None,
                fulfillment_status=str(node.get("displayFulfillmentStatus") or "").lower() or None,
                discount_codes=[str(c) for c in node.get("discountCodes") or []],
                tags=[str(t) for t in node.get("tags") or []],
                source_name=node.get("sourceName"),
                cancelled_at=parse_time(node.get("cancelledAt")),
                cancel_reason=str(node.get("cancelReason") or "").lower() or None,
                updated_at=parse_time(node.get("updatedAt")),
                customer=sync.CustomerData(customer_id, complete=False) if customer_id else None,
                refunds={
                    str(gid_to_id(r["id"])): _money(r.get("totalRefundedSet"), currency)
                    for r in node.get("refunds") or []
                },
                lines=[
                    sync.LineData(
                        shopify_id=gid_to_id(item["id"]) or 0,
                        product_shopify_id=gid_to_id((item.get("product") or {}).get("id")),
                        variant_shopify_id=gid_to_id((item.get("variant") or {}).get("id")),
                        title=str(item.get("title") or ""),
                        variant_title=item.get("variantTitle"),
                        sku=item.get("sku") or None,
                        quantity=int(item.get("quantity") or 0),
                        price=_money(item.get("originalUnitPriceSet"), currency),
                        total_discount=_money(item.get("totalDiscountSet"), currency),
                        selling_plan_id=_plan_id(item.get("sellingPlan")),
                        selling_plan_name=(item.get("sellingPlan") or {}).get("name"),
                    )
                    for item in root.children
                ],
            )
        )
    return sync.import_orders(shop, records, now=now)


def _plan_id(plan: dict[str, Any] | None) -> int | None:
    if not plan:
        return None
    # A line bought on a selling plan whose plan was deleted since: still a subscription line.
    return gid_to_id(plan.get("sellingPlanId")) or -1


_CONVERTERS: dict[str, Callable[[Shop, list[_Root], datetime], int]] = {
    "products": _products,
    "customers": _customers,
    "orders": _orders,
}


def runs_in_progress() -> list[int]:
    return list(
        db.session.scalars(
            select(BackfillRun.id).where(BackfillRun.status.in_(("pending", "running")))
        )
    )
