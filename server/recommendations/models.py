"""Recommendation tables: the shop's choices, each trained model, and what it precomputed.

- `RecommendationSettings`: one row per shop (none = the defaults): the production algorithm
  and its parameters as chosen by the shop's offline evaluation, that evaluation's scores,
  and the products the merchant never wants recommended.
- `RecommendationModel`: one row per training run, with what the admin shows (when, how long,
  how big), the cold-start best sellers per tier, and the model's item-side state (`artifact`,
  an .npz) that refreshes one customer's list after an order without training again.
- `CustomerRecommendation`: one row per customer, their precomputed ranked list (`items`); the
  serving filters run on it at request time.
- `ReorderPrediction`: one row per (customer, product bought again) with the predicted run-out
  date; indexed by (shop, due_at) so "who is due today" is a range scan, nobody is scored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, ShopScoped, TimestampMixin, utcnow


class RecommendationSettings(ShopScoped, TimestampMixin, Model):
    __tablename__ = "recommendation_settings"
    __table_args__ = (UniqueConstraint("shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: algorithms.DEFAULT_RECOMMENDER with its default parameters.
    algorithm: Mapped[str | None] = mapped_column(String(32))
    # {"all": {...}, "new": {...}}: the parameters tuned on the shop's validation split for the
    # full list (repeats allowed) and for "you may also like" (new products only).
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    excluded_product_ids: Mapped[list[Any]] = mapped_column(default=list)
    # evaluation.to_json() of the last run on this shop's history, plus "meta" (sizes, cutoffs).
    evaluation: Mapped[dict[str, Any] | None]
    evaluated_at: Mapped[datetime | None]


class RecommendationModel(ShopScoped, Model):
    __tablename__ = "recommendation_models"
    __table_args__ = (
        Index("ix_recommendation_models_shop_id_trained_at", "shop_id", "trained_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The end of the history it learnt from (the training run's `now`).
    as_of: Mapped[datetime]
    customers: Mapped[int] = mapped_column(default=0)  # customers with a stored list
    products: Mapped[int] = mapped_column(default=0)
    lines: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    peak_mb: Mapped[float] = mapped_column(default=0.0)
    # Best sellers for the cold start: {"all": [product ids], "<tier id>": [...]}.
    popular: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The fitted models' item-side state and the index maps (production.save_state); dropped
    # from older runs once a newer one is stored.
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class CustomerRecommendation(ShopScoped, Model):
    """One customer's ranked list. Each item: {"p": product id, "k": kind ("reorder",
    "discovery", "popular"), "s": score, "a": anchor product id (discovery: "customers who
    bought a"), "l": last purchase date, "d": predicted run-out date (reorder)}."""

    __tablename__ = "customer_recommendations"
    __table_args__ = (UniqueConstraint("shop_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("recommendation_models.id", ondelete="SET NULL"), index=True
    )
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    items: Mapped[list[Any]] = mapped_column(default=list)


class ReorderPrediction(ShopScoped, Model):
    """When a customer should run out of a product they buy again (training.reorder_schedule)."""

    __tablename__ = "reorder_predictions"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_id", "product_id"),
        Index("ix_reorder_predictions_shop_id_due_at", "shop_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    last_purchased_at: Mapped[datetime]
    cycle_days: Mapped[float]
    due_at: Mapped[datetime]
    purchases: Mapped[int] = mapped_column(default=1)
    # The last purchase was on a selling plan: the subscription reorders by itself, so the
    # customer is not "due" (kept for the admin's view of their cycle).
    subscribed: Mapped[bool] = mapped_column(default=False)
