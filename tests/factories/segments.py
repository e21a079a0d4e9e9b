from __future__ import annotations

import factory

from server.db import utcnow
from server.segments.models import NineSegmentProfile, Segment, SurveyAnswer
from tests.factories import ModelFactory
from tests.factories.shops import ShopFactory


class SegmentFactory(ModelFactory):
    class Meta:
        model = Segment
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    name = factory.Sequence(lambda n: f"セグメント {n}")
    definition = factory.LazyFunction(lambda: {"match": "all", "conditions": []})


class SurveyAnswerFactory(ModelFactory):
    class Meta:
        model = SurveyAnswer

    shop_id = factory.SelfAttribute("line_user.shop_id")
    line_user_id = factory.SelfAttribute("line_user.id")
    survey = "cancellation"
    question = "reason"
    answer = "leftover"
    answered_at = factory.LazyFunction(utcnow)

    class Params:
        line_user = None


class NineSegmentProfileFactory(ModelFactory):
    class Meta:
        model = NineSegmentProfile

    shop_id = factory.SelfAttribute("line_user.shop_id")
    line_user_id = factory.SelfAttribute("line_user.id")
    aware = True
    purchase = "month"
    purchase_source = "answer"
    intent = True
    cell = "loyal_active"
    updated_at = factory.LazyFunction(utcnow)

    class Params:
        line_user = None
