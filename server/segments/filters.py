"""Segment definitions: validation, and compilation into one SQL query over live data.

A definition is a tree of conditions:

    {"match": "all", "conditions": [
        {"field": "order_count", "op": "gte", "value": 2},
        {"field": "last_order_at", "op": "over_days", "value": 60},
        {"match": "any", "conditions": [
            {"field": "customer_tag", "op": "any", "value": ["VIP"]},
            {"field": "nine_segment_cell", "op": "in", "value": ["lapsed_active"]}]}]}

The people a segment is made of are the shop's customers (with their LINE friend when linked) plus
the LINE friends not linked to any customer. A row is (customer_id, line_user_id), either may be
None. Conditions on customer data (orders, tags, RFM, ...) only match rows with a customer;
conditions on LINE data (following, survey answers, 9-segment cell) only rows with a LINE friend.
Redacted customers are never in a segment.

Everything is evaluated by the database: `compile_definition` returns a SELECT of
(customer_id, line_user_id); callers count it, page it or join it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import array as pg_array

from server.commerce import subscriptions
from server.commerce.models import CollectionProduct, Customer, Order, OrderLine, Product
from server.commerce.money import to_minor
from server.commerce.subscriptions import STATES as SUBSCRIPTION_STATES
from server.errors import Invalid
from server.line.models import LineUser
from server.membership.models import Member
from server.shops.models import Shop

from .models import NineSegmentProfile, SurveyAnswer
from .nine_segments import CELLS
from .rfm import RfmThresholds, thresholds_for

MAX_CONDITIONS = 50
MAX_DEPTH = 4
MAX_VALUES = 500

NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
DATE_OPS = ("before", "since", "between", "within_days", "over_days", "none")
BOOL_OPS = ("is",)
CHOICE_OPS = ("in", "not_in")
TAG_OPS = ("any", "all", "none")
BOUGHT_OPS = ("any", "none")


class InvalidDefinition(Invalid):
    code = "invalid_segment"


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # number | date | bool | choice | tags | bought | survey | tier
    ops: tuple[str, ...]
    needs: str  # "customer" | "line" | "any": which half of a person the field reads
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


FIELDS: dict[str, FieldSpec] = {
    "rfm_r": FieldSpec("number", NUMBER_OPS, "customer", minimum=1, maximum=5),
    "rfm_f": FieldSpec("number", NUMBER_OPS, "customer", minimum=1, maximum=5),
    "rfm_m": FieldSpec("number", NUMBER_OPS, "customer", minimum=1, maximum=5),
    "order_count": FieldSpec("number", NUMBER_OPS, "customer", minimum=0),
    "total_spent": FieldSpec("number", NUMBER_OPS, "customer", minimum=0),  # minor units
    "first_order_at": FieldSpec("date", DATE_OPS, "customer"),
    "last_order_at": FieldSpec("date", DATE_OPS, "customer"),
    "bought_product": FieldSpec("bought", BOUGHT_OPS, "customer"),
    "bought_product_tag": FieldSpec("bought", BOUGHT_OPS, "customer"),
    "bought_product_type": FieldSpec("bought", BOUGHT_OPS, "customer"),
    "bought_collection": FieldSpec("bought", BOUGHT_OPS, "customer"),
    "customer_tag": FieldSpec("tags", TAG_OPS, "customer"),
    "linked": FieldSpec("bool", BOOL_OPS, "any"),
    "following": FieldSpec("bool", BOOL_OPS, "any"),
    "blocked": FieldSpec("bool", BOOL_OPS, "any"),
    "language": FieldSpec("choice", CHOICE_OPS, "any", choices=("ja", "en")),
    "nine_segment_cell": FieldSpec("choice", CHOICE_OPS, "line", choices=CELLS),
    "survey_answer": FieldSpec("survey", ("in", "not_in"), "line"),
    # The rule of commerce/subscriptions.py: active, paused, cancelled (a former subscriber), never.
    "subscription_status": FieldSpec("choice", CHOICE_OPS, "customer", choices=SUBSCRIPTION_STATES),
    "membership_tier": FieldSpec("tier", CHOICE_OPS, "customer"),  # the shop's tier ids
}

Builder = Callable[["Query", dict[str, Any]], ColumnElement[bool]]


# ---------------------------------------------------------------------------------------------
# Validation


def validate(definition: Any) -> dict[str, Any]:
    """A clean copy of `definition`, or InvalidDefinition saying where and what is wrong."""
    counter = [0]
    return _group(definition, "definition", 1, counter)


def _fail(path: str, message: str) -> InvalidDefinition:
    return InvalidDefinition(f"{path}: {message}", path=path)


def _group(node: Any, path: str, depth: int, counter: list[int]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _fail(path, "must be an object with 'match' and 'conditions'")
    if depth > MAX_DEPTH:
        raise _fail(path, f"groups may be nested at most {MAX_DEPTH} deep")
    match = node.get("match", "all")
    if match not in ("all", "any"):
        raise _fail(f"{path}.match", "must be 'all' or 'any'")
    conditions = node.get("conditions", [])
    if not isinstance(conditions, list):
        raise _fail(f"{path}.conditions", "must be a list")
    unknown = set(node) - {"match", "conditions"}
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}")
    clean = []
    for i, child in enumerate(conditions):
        child_path = f"{path}.conditions[{i}]"
        if isinstance(child, dict) and "conditions" in child:
            clean.append(_group(child, child_path, depth + 1, counter))
        else:
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise _fail(path, f"at most {MAX_CONDITIONS} conditions")
            clean.append(_condition(child, child_path))
    return {"match": match, "conditions": clean}


def _condition(node: Any, path: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _fail(path, "must be an object with 'field', 'op' and 'value'")
    name = node.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise _fail(f"{path}.field", f"unknown field {name!r}; known: {sorted(FIELDS)}")
    op = node.get("op")
    if op not in spec.ops:
        raise _fail(f"{path}.op", f"{name} takes one of {list(spec.ops)}, not {op!r}")
    value = _value(spec, str(name), str(op), node.get("value"), f"{path}.value")
    clean: dict[str, Any] = {"field": name, "op": op, "value": value}
    if spec.kind == "bought" and node.get("within_days") is not None:
        clean["within_days"] = _int(node["within_days"], f"{path}.within_days", 1, 3650)
    return clean


def _int(value: Any, path: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "must be a whole number")
    if minimum is not None and value < minimum:
        raise _fail(path, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise _fail(path, f"must be at most {maximum}")
    return value


def _strings(value: Any, path: str, choices: Sequence[str] = ()) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "must be a non-empty list")
    if len(value) > MAX_VALUES:
        raise _fail(path, f"at most {MAX_VALUES} values")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > 255:
            raise _fail(f"{path}[{i}]", "must be a non-empty text of at most 255 characters")
        if choices and item not in choices:
            raise _fail(f"{path}[{i}]", f"must be one of {list(choices)}")
        out.append(item.strip())
    return out


def _date(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a date YYYY-MM-DD")
    try:
        datetime.strptime(value, "%Y-%m-%d")  # noqa: DTZ007 - a calendar date, zone added later
    except ValueError:
        raise _fail(path, "must be a date YYYY-MM-DD") from None
    return value


def _value(spec: FieldSpec, name: str, op: str, value: Any, path: str) -> Any:
    if spec.kind == "number":
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _fail(path, "between takes [low, high]")
            low = _int(value[0], f"{path}[0]", spec.minimum, spec.maximum)
            high = _int(value[1], f"{path}[1]", spec.minimum, spec.maximum)
            if low > high:
                raise _fail(path, "low must not exceed high")
            return [low, high]
        return _int(value, path, spec.minimum, spec.maximum)
    if spec.kind == "date":
        if op == "none":
            return None
        if op in ("within_days", "over_days"):
            return _int(value, path, 0, 36500)
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _fail(path, "between takes [first day, last day]")
            first, last = _date(value[0], f"{path}[0]"), _date(value[1], f"{path}[1]")
            if first > last:
                raise _fail(path, "the first day must not be after the last")
            return [first, last]
        return _date(value, path)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _fail(path, "must be true or false")
        return value
    if spec.kind == "choice":
        return _strings(value, path, spec.choices)
    if spec.kind == "tags":
        return _strings(value, path)
    if spec.kind == "bought":
        if name in ("bought_product", "bought_collection"):
            kind = "product" if name == "bought_product" else "collection"
            if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
                raise _fail(path, f"must be a list of 1 to {MAX_VALUES} {kind} ids")
            return [_int(v, f"{path}[{i}]", 1) for i, v in enumerate(value)]
        return _strings(value, path)
    if spec.kind == "survey":
        if not isinstance(value, dict):
            raise _fail(path, "must be {survey, question, answers}")
        survey = value.get("survey")
        question = value.get("question")
        if not isinstance(survey, str) or not survey or not isinstance(question, str):
            raise _fail(path, "needs 'survey' and 'question'")
        return {
            "survey": survey,
            "question": question,
            "answers": _strings(value.get("answers"), f"{path}.answers"),
        }
    if spec.kind == "tier":
        if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
            raise _fail(path, f"must be a list of 1 to {MAX_VALUES} tier ids")
        return [_int(v, f"{path}[{i}]", 1) for i, v in enumerate(value)]
    raise _fail(path, f"field kind {spec.kind} is not supported")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Compilation


@dataclass
class Query:
    """What condition builders see: the people subquery and the shop's context."""

    shop: Shop
    now: datetime
    dialect: str
    people: Any  # the subquery: customer_id, line_user_id, tags, locale, language, ...
    thresholds: RfmThresholds
    uses: set[str] = field(default_factory=set)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone)

    def local_midnight(self, day: str) -> datetime:
        y, m, d = (int(part) for part in day.split("-"))
        return datetime(y, m, d, tzinfo=self.zone)


_STATS_FIELDS = {
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "order_count",
    "total_spent",
    "first_order_at",
    "last_order_at",
}


def fields_used(definition: dict[str, Any]) -> set[str]:
    used: set[str] = set()
    for node in definition.get("conditions", []):
        if "conditions" in node:
            used |= fields_used(node)
        else:
            used.add(node["field"])
    return used


@dataclass(frozen=True)
class Person:
    """One person to test against a definition: a customer, a LINE friend, or both (linked)."""

    customer_id: int | None = None
    line_user_id: int | None = None


def compile_definition(
    shop: Shop,
    definition: dict[str, Any],
    *,
    now: datetime,
    dialect: str,
    person: Person | None = None,
) -> Select[Any]:
    """SELECT customer_id, line_user_id of everyone the (validated) definition matches.

    With `person`, only that person's row is considered (a check at enrollment time that reads
    a handful of rows, not the shop).
    """
    used = fields_used(definition)
    halves = _halves(definition)
    people = _people_subquery(
        shop,
        now=now,
        with_stats=bool(used & _STATS_FIELDS),
        with_subscription="subscription_status" in used,
        halves=halves,
        person=person,
    )
    query = Query(
        shop=shop,
        now=now,
        dialect=dialect,
        people=people,
        thresholds=thresholds_for(shop),
        uses=used,
    )
    where = _compile_group(query, definition)
    return select(people.c.customer_id, people.c.line_user_id).where(where)


def _halves(definition: dict[str, Any]) -> set[str]:
    """Which halves of the population can match: an all-group that needs a customer (or a LINE
    friend) rules out the other branch of the union, which the database then never reads."""
    halves = {"customers", "friends"}
    if definition.get("match") != "all":
        return halves
    for node in definition.get("conditions", []):
        if "conditions" in node:
            continue
        spec = FIELDS[node["field"]]
        if spec.needs == "customer" or (node["field"] == "linked" and node["value"] is True):
            halves.discard("friends")
    return halves or {"customers"}


def _people_subquery(
    shop: Shop,
    *,
    now: datetime,
    with_stats: bool,
    with_subscription: bool,
    halves: set[str],
    person: Person | None = None,
) -> Any:
    branches = []
    if person is not None:
        # A linked person is the customers-branch row; a friend alone is the friends-branch row.
        halves = halves & ({"customers"} if person.customer_id is not None else {"friends"})
        if not halves:
            return (
                select(
                    sa.cast(null(), sa.Integer).label("customer_id"),
                    sa.cast(null(), sa.Integer).label("line_user_id"),
                )
                .where(false())
                .subquery("people")
            )
    if "customers" in halves:
        columns: list[Any] = [
            Customer.id.label("customer_id"),
            LineUser.id.label("line_user_id"),
            Customer.tags.label("customer_tags"),
            Customer.locale.label("customer_locale"),
            LineUser.language.label("language"),
            LineUser.followed_at.label("followed_at"),
            LineUser.blocked_at.label("blocked_at"),
        ]
        linked = (
            select()
            .select_from(Customer)
            .outerjoin(
                LineUser,
                and_(LineUser.shop_id == Customer.shop_id, LineUser.customer_id == Customer.id),
            )
            .where(Customer.shop_id == shop.id, Customer.redacted_at.is_(None))
        )
        if person is not None:
            linked = linked.where(Customer.id == person.customer_id)
        if with_stats:
            totals = (
                select(
                    Order.customer_id.label("customer_id"),
                    func.count().label("order_count"),
                    func.sum(Order.total_price - Order.total_refunded).label("total_spent"),
                    func.min(Order.processed_at).label("first_order_at"),
                    func.max(Order.processed_at).label("last_order_at"),
                )
                .where(
                    Order.shop_id == shop.id,
                    Order.cancelled_at.is_(None),
                    Order.customer_id.is_not(None),
                )
                .group_by(Order.customer_id)
            )
            if person is not None:
                totals = totals.where(Order.customer_id == person.customer_id)
            stats = totals.subquery("stats")
            linked = linked.outerjoin(stats, stats.c.customer_id == Customer.id)
            columns += [
                func.coalesce(stats.c.order_count, 0).label("order_count"),
                func.coalesce(stats.c.total_spent, 0).label("total_spent"),
                stats.c.first_order_at.label("first_order_at"),
                stats.c.last_order_at.label("last_order_at"),
            ]
        if with_subscription:
            linked, state = subscriptions.with_state(
                shop, linked, now=now, customer_id=person.customer_id if person else None
            )
            columns.append(state.label("subscription_state"))
        branches.append(linked.add_columns(*columns))
    if "friends" in halves:
        columns = [
            sa.cast(null(), sa.Integer).label("customer_id"),
            LineUser.id.label("line_user_id"),
            null().label("customer_tags"),
            sa.cast(null(), sa.String).label("customer_locale"),
            LineUser.language.label("language"),
            LineUser.followed_at.label("followed_at"),
            LineUser.blocked_at.label("blocked_at"),
        ]
        if with_stats:
            columns += [
                sa.cast(null(), sa.Integer).label("order_count"),
                sa.cast(null(), sa.BigInteger).label("total_spent"),
                null().label("first_order_at"),
                null().label("last_order_at"),
            ]
        if with_subscription:
            columns.append(sa.cast(null(), sa.String).label("subscription_state"))
        friends = select(*columns).where(
            LineUser.shop_id == shop.id, LineUser.customer_id.is_(None)
        )
        if person is not None:
            friends = friends.where(LineUser.id == person.line_user_id)
        branches.append(friends)
    if len(branches) == 1:
        return branches[0].subquery("people")
    return union_all(*branches).subquery("people")


def _compile_group(query: Query, group: dict[str, Any]) -> ColumnElement[bool]:
    parts = [
        _compile_group(query, node) if "conditions" in node else _compile_condition(query, node)
        for node in group["conditions"]
    ]
    if not parts:
        return true() if group["match"] == "all" else false()
    return and_(*parts) if group["match"] == "all" else or_(*parts)


def _compile_condition(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    name = node["field"]
    spec = FIELDS[name]
    p = query.people.c
    expression = _BUILDERS[name](query, node)
    if spec.needs == "customer":
        return and_(p.customer_id.is_not(None), expression)
    if spec.needs == "line":
        return and_(p.line_user_id.is_not(None), expression)
    return expression


def _number(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "between":
        return column.between(value[0], value[1])
    return {
        "eq": column == value,
        "ne": column != value,
        "gt": column > value,
        "gte": column >= value,
        "lt": column < value,
        "lte": column <= value,
    }[op]


def _date_condition(query: Query, column: Any, node: dict[str, Any]) -> ColumnElement[bool]:
    op, value = node["op"], node["value"]
    if op == "none":
        return column.is_(None)
    if op == "within_days":
        return column >= query.now - timedelta(days=value)
    if op == "over_days":
        return column < query.now - timedelta(days=value)
    if op == "before":
        return column < query.local_midnight(value)
    if op == "since":
        return column >= query.local_midnight(value)
    first = query.local_midnight(value[0])
    # Aware arithmetic adds to the wall clock: midnight after the last day, in the shop's zone,
    # which is what a merchant means by "up to and including the 31st", even across DST.
    after_last = query.local_midnight(value[1]) + timedelta(days=1)
    return and_(column >= first, column < after_last)


def _rfm_r(query: Query) -> ColumnElement[Any]:
    last = query.people.c.last_order_at
    whens = [
        (last >= query.now - timedelta(days=days), score)
        for score, days in zip((5, 4, 3, 2), query.thresholds.recency_days, strict=True)
    ]
    return case((last.is_(None), None), *whens, else_=1)


def _rfm_f(query: Query) -> ColumnElement[Any]:
    count = query.people.c.order_count
    whens = [
        (count >= n, score)
        for score, n in zip((5, 4, 3, 2), query.thresholds.frequency_orders, strict=True)
    ]
    return case((count == 0, None), *whens, else_=1)


def _rfm_m(query: Query) -> ColumnElement[Any]:
    spent = query.people.c.total_spent
    count = query.people.c.order_count
    whens = [
        (spent >= to_minor(amount, query.shop.currency), score)
        for score, amount in zip((5, 4, 3, 2), query.thresholds.monetary, strict=True)
    ]
    return case((count == 0, None), *whens, else_=1)


def json_has(query: Query, column: Any, values: list[str], mode: str) -> ColumnElement[bool]:
    """Whether a JSON array column holds any / all of `values` (JSONB operators on PostgreSQL)."""
    if query.dialect == "postgresql":
        as_jsonb = type_coerce(column, JSONB)
        wanted = pg_array(values, type_=sa.Text)
        return as_jsonb.has_any(wanted) if mode == "any" else as_jsonb.has_all(wanted)
    each = func.json_each(column).table_valued("value")
    matching = select(func.count(sa.distinct(each.c.value))).where(each.c.value.in_(values))
    if mode == "any":
        return exists(select(literal(1)).select_from(each).where(each.c.value.in_(values)))
    return matching.scalar_subquery() == len(set(values))


def _tags(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    column = query.people.c.customer_tags
    op, values = node["op"], node["value"]
    if op == "none":
        return not_(func.coalesce(json_has(query, column, values, "any"), false()))
    return json_has(query, column, values, op)


def _bought(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    name, values = node["field"], node["value"]
    buyers = (
        select(Order.customer_id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.shop_id == query.shop.id,
            Order.cancelled_at.is_(None),
            Order.customer_id.is_not(None),
        )
    )
    if node.get("within_days"):
        buyers = buyers.where(Order.processed_at >= query.now - timedelta(days=node["within_days"]))
    if name == "bought_product":
        buyers = buyers.where(OrderLine.product_id.in_(values))
    elif name == "bought_collection":
        # What is in the collection now (Shopify's collections hold no history).
        members = select(CollectionProduct.product_shopify_id).where(
            CollectionProduct.shop_id == query.shop.id,
            CollectionProduct.collection_id.in_(values),
        )
        buyers = buyers.join(Product, Product.id == OrderLine.product_id).where(
            Product.shopify_id.in_(members)
        )
    else:
        buyers = buyers.join(Product, Product.id == OrderLine.product_id)
        if name == "bought_product_tag":
            buyers = buyers.where(json_has(query, Product.tags, values, "any"))
        else:
            buyers = buyers.where(Product.product_type.in_(values))
    inside = query.people.c.customer_id.in_(buyers)
    return inside if node["op"] == "any" else not_(inside)


def _survey(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    value = node["value"]
    answered = select(SurveyAnswer.line_user_id).where(
        SurveyAnswer.shop_id == query.shop.id,
        SurveyAnswer.survey == value["survey"],
        SurveyAnswer.question == value["question"],
        SurveyAnswer.answer.in_(value["answers"]),
    )
    inside = query.people.c.line_user_id.in_(answered)
    return inside if node["op"] == "in" else not_(inside)


def _cell(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    placed = select(NineSegmentProfile.line_user_id).where(
        NineSegmentProfile.shop_id == query.shop.id,
        NineSegmentProfile.cell.in_(node["value"]),
    )
    inside = query.people.c.line_user_id.in_(placed)
    return inside if node["op"] == "in" else not_(inside)


def _bool(expression: ColumnElement[bool], node: dict[str, Any]) -> ColumnElement[bool]:
    return expression if node["value"] else not_(expression)


def _language(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    p = query.people.c
    language = func.lower(func.substr(func.coalesce(p.language, p.customer_locale, ""), 1, 2))
    inside = language.in_(node["value"])
    return inside if node["op"] == "in" else not_(inside)


def _subscription(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    inside = query.people.c.subscription_state.in_(node["value"])
    return inside if node["op"] == "in" else not_(inside)


def _tier(query: Query, node: dict[str, Any]) -> ColumnElement[bool]:
    # A customer who is not a member, or a member below every tier, is in no tier.
    placed = select(Member.customer_id).where(
        Member.shop_id == query.shop.id, Member.tier_id.in_(node["value"])
    )
    inside = query.people.c.customer_id.in_(placed)
    return inside if node["op"] == "in" else not_(inside)


_BUILDERS: dict[str, Builder] = {
    "rfm_r": lambda q, n: _number(_rfm_r(q), n["op"], n["value"]),
    "rfm_f": lambda q, n: _number(_rfm_f(q), n["op"], n["value"]),
    "rfm_m": lambda q, n: _number(_rfm_m(q), n["op"], n["value"]),
    "order_count": lambda q, n: _number(q.people.c.order_count, n["op"], n["value"]),
    "total_spent": lambda q, n: _number(q.people.c.total_spent, n["op"], n["value"]),
    "first_order_at": lambda q, n: _date_condition(q, q.people.c.first_order_at, n),
    "last_order_at": lambda q, n: _date_condition(q, q.people.c.last_order_at, n),
    "bought_product": _bought,
    "bought_product_tag": _bought,
    "bought_product_type": _bought,
    "bought_collection": _bought,
    "customer_tag": _tags,
    "linked": lambda q, n: _bool(
        and_(q.people.c.customer_id.is_not(None), q.people.c.line_user_id.is_not(None)), n
    ),
    "following": lambda q, n: _bool(
        and_(
            q.people.c.line_user_id.is_not(None),
            q.people.c.followed_at.is_not(None),
            q.people.c.blocked_at.is_(None),
        ),
        n,
    ),
    "blocked": lambda q, n: _bool(
        and_(q.people.c.line_user_id.is_not(None), q.people.c.blocked_at.is_not(None)), n
    ),
    "language": _language,
    "nine_segment_cell": _cell,
    "survey_answer": _survey,
    "subscription_status": _subscription,
    "membership_tier": _tier,
}
