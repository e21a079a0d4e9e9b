from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import text

from server.db import db, utcnow
from server.line import delivery
from server.line.models import Delivery, DeliveryStatus, LineChannel
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.factories.shops import ShopFactory
from tests.fakes.line_api import LineStandIn

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "long-lived-token-" + "x" * 150
LOGIN_SECRET = "fedcba9876543210fedcba9876543210"
FULL = {
    "channel_id": "2000123456",
    "channel_secret": SECRET,
    "channel_access_token": TOKEN,
    "login_channel_id": "1600123456",
    "login_channel_secret": LOGIN_SECRET,
    "liff_id": "1600123456-AbCdEfGh",
}


def put(admin: AdminClient, shop: Shop, body: Any) -> Any:
    return admin.put("/api/admin/line/channel", shop=shop, json=body)


def test_the_webhook_url_is_there_before_any_credential(admin: AdminClient, shop: Shop) -> None:
    response = admin.get("/api/admin/line/channel", shop=shop)

    assert response.status_code == 200
    assert response.json["configured"] is False
    assert response.json["mode"] == "outbox"
    url = response.json["webhook_url"]
    assert url.startswith("https://kizuna.test/line/webhook/")
    assert len(url.rsplit("/", 1)[1]) >= 32
    assert admin.get("/api/admin/line/channel", shop=shop).json["webhook_url"] == url


def test_saving_checks_the_token_with_line_stores_it_encrypted_and_never_echoes_it(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    response = put(admin, shop, FULL)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["configured"] is True
    assert body["login_configured"] is True
    assert body["mode"] == "api"
    assert body["bot"] == {
        "user_id": "U" + "b" * 32,
        "basic_id": "@kizuna",
        "display_name": "Kizuna テスト店",
    }
    assert body["channel_secret"] == "••••••••cdef"
    for secret in (SECRET, TOKEN, LOGIN_SECRET):
        assert secret not in response.text
    [info] = line_api.requests("/v2/bot/info")
    assert info.headers["authorization"] == f"Bearer {TOKEN}"
    raw = db.session.execute(
        text(
            "SELECT channel_secret, channel_access_token, login_channel_secret "
            "FROM line_channels WHERE shop_id = :id"
        ),
        {"id": shop.id},
    ).one()
    assert SECRET not in raw[0]
    assert TOKEN not in raw[1]
    assert LOGIN_SECRET not in raw[2]
    assert admin.get("/api/admin/line/channel", shop=shop).json["channel_access_token"] == (
        "••••••••xxxx"
    )


def test_a_token_line_refuses_is_not_saved(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    line_api.rejected_tokens.add(TOKEN)

    response = put(admin, shop, FULL)

    assert response.status_code == 422
    assert response.json["error"] == "line_channel_rejected"
    assert "channel access token" in response.json["message"]
    assert admin.get("/api/admin/line/channel", shop=shop).json["configured"] is False


def test_without_a_long_lived_token_a_short_lived_one_is_issued(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    body = {k: v for k, v in FULL.items() if k != "channel_access_token"}

    response = put(admin, shop, body)

    assert response.status_code == 200, response.json
    assert response.json["access_token_issued"] is True
    assert response.json["access_token_expires_at"]
    [issue] = line_api.requests("/v2/oauth/accessToken")
    assert issue.form == {
        "grant_type": "client_credentials",
        "client_id": FULL["channel_id"],
        "client_secret": SECRET,
    }


def test_empty_secrets_keep_the_stored_ones(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    put(admin, shop, FULL)

    response = put(
        admin,
        shop,
        {"channel_secret": "", "channel_access_token": "", "liff_id": "1600123456-Zz99Zz99"},
    )

    assert response.status_code == 200
    assert response.json["liff_id"] == "1600123456-Zz99Zz99"
    channel = db.session.query(LineChannel).filter_by(shop_id=shop.id).one()
    db.session.refresh(channel)
    assert channel.channel_secret == SECRET
    assert channel.channel_access_token == TOKEN
    assert len(line_api.requests("/v2/bot/info")) == 1  # nothing to re-check


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel_id": "abc"}, "channel_id"),
        ({"channel_secret": "not-hex"}, "channel_secret"),
        ({"login_channel_secret": "12"}, "login_channel_secret"),
        ({"liff_id": "no dash"}, "liff_id"),
        ({"channel_access_token": "has space"}, "channel_access_token"),
        ({"channel_id": 12345678}, "channel_id"),
        ({"rules": {"quiet_hours_start": "25:00"}}, "quiet_hours_start"),
        ({"rules": {"frequency_cap": -1}}, "frequency_cap"),
        ({"rules": {"frequency_cap_days": 0}}, "frequency_cap_days"),
        ({"rules": {"link_incentive_points": "100"}}, "link_incentive_points"),
    ],
)
def test_bad_fields_are_422_naming_the_field_and_change_nothing(
    admin: AdminClient, shop: Shop, line_api: LineStandIn, body: dict[str, Any], field: str
) -> None:
    response = put(admin, shop, body)

    assert response.status_code == 422
    assert response.json["details"]["field"] == field
    assert line_api.calls == []


def test_unknown_fields_and_non_objects_are_refused(admin: AdminClient, shop: Shop) -> None:
    assert put(admin, shop, {"channel_idd": "1"}).status_code == 422
    assert put(admin, shop, ["x"]).status_code == 400


def test_line_unreachable_is_503_and_saves_nothing(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    line_api.time_out("/v2/bot/info")

    response = put(admin, shop, FULL)

    assert response.status_code == 503
    assert len(line_api.requests("/v2/bot/info")) == 1  # urllib3 repeats nothing behind our back
    assert admin.get("/api/admin/line/channel", shop=shop).json["configured"] is False


def test_delivery_rules_and_the_link_incentive_are_saved(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    rules = {
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "08:30",
        "frequency_cap": 3,
        "frequency_cap_days": 14,
        "link_incentive_points": 300,
    }

    response = put(admin, shop, {"rules": rules})

    assert response.status_code == 200
    assert response.json["rules"] == rules


def test_the_webhook_can_be_set_and_tested_through_line(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    channel = LineChannelFactory(shop=shop)
    db.session.commit()

    set_response = admin.post("/api/admin/line/channel/webhook", shop=shop)
    test_response = admin.post("/api/admin/line/channel/webhook/test", shop=shop)

    url = f"https://kizuna.test/line/webhook/{channel.channel_key}"
    assert set_response.json == {"webhook_url": url}
    assert line_api.webhook_endpoint == url
    assert test_response.json["success"] is True
    [tested] = line_api.requests("/v2/bot/channel/webhook/test")
    assert tested.json == {"endpoint": url}
    assert admin.get("/api/admin/line/channel", shop=shop).json["webhook_verified_at"]


def test_a_failed_webhook_test_is_reported(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=shop)
    db.session.commit()
    line_api.webhook_test_result = {
        "success": False,
        "timestamp": "2026-11-23T06:00:00Z",
        "statusCode": 404,
        "reason": "ERROR_STATUS_CODE",
        "detail": "404",
    }

    response = admin.post("/api/admin/line/channel/webhook/test", shop=shop)

    assert response.json["success"] is False
    assert response.json["reason"] == "ERROR_STATUS_CODE"


def test_the_quota_is_read_from_line(admin: AdminClient, shop: Shop, line_api: LineStandIn) -> None:
    LineChannelFactory(shop=shop)
    db.session.commit()
    line_api.quota_limit, line_api.usage = 1000, 420

    response = admin.get("/api/admin/line/quota", shop=shop)

    assert response.json["limit"] == 1000
    assert response.json["used"] == 420
    assert response.json["remaining"] == 580


def test_webhook_and_quota_need_a_configured_channel(admin: AdminClient, shop: Shop) -> None:
    assert admin.post("/api/admin/line/channel/webhook", shop=shop).status_code == 422
    assert admin.get("/api/admin/line/quota", shop=shop).status_code == 422


# Deliveries and the outbox ----------------------------------------------------------------------


def test_the_outbox_lists_what_would_have_been_sent(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    friend = LineUserFactory(shop=shop, display_name="はなこ")
    delivery.deliver(
        shop,
        friend,
        [{"type": "text", "text": "ご注文を発送しました"}],
        kind="transactional",
        source="orders",
        now=utcnow(),
    )
    db.session.commit()

    response = admin.get("/api/admin/line/deliveries?status=outbox", shop=shop)

    assert response.json["mode"] == "outbox"
    [item] = response.json["deliveries"]
    assert item["status"] == "outbox"
    assert item["friend"] == "はなこ"
    assert item["preview"] == "ご注文を発送しました"
    assert item["messages"] == [{"type": "text", "text": "ご注文を発送しました"}]
    assert line_api.calls == []
    summary = admin.get("/api/admin/line/deliveries/summary", shop=shop).json
    assert summary["counts"] == {"outbox": 1}
    assert sum(day.get("outbox", 0) for day in summary["daily"]) == 1


def test_line_delivery_outbox_wins_over_a_configured_channel(
    app: Any,
    admin: AdminClient,
    shop: Shop,
    line_api: LineStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "LINE_DELIVERY", "outbox")
    LineChannelFactory(shop=shop)
    friend = LineUserFactory(shop=shop)
    row = delivery.deliver(
        shop, friend, [{"type": "text", "text": "x"}], kind="transactional", now=utcnow()
    )
    db.session.commit()
    db.session.refresh(row)

    assert row.status == DeliveryStatus.OUTBOX
    assert line_api.pushes() == []


def test_bad_status_filters_are_422(admin: AdminClient, shop: Shop) -> None:
    assert admin.get("/api/admin/line/deliveries?status=lost", shop=shop).status_code == 422
    assert admin.get("/api/admin/line/deliveries/summary?days=0", shop=shop).status_code == 422


def test_held_deliveries_can_be_released_and_pending_ones_cancelled(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=shop)
    friend = LineUserFactory(shop=shop)
    line_api.quota_limit, line_api.usage = 10, 10
    held = delivery.deliver(
        shop, friend, [{"type": "text", "text": "a"}], kind="transactional", now=utcnow()
    )
    later = delivery.deliver(
        shop,
        friend,
        [{"type": "text", "text": "b"}],
        kind="promotional",
        not_before=utcnow().replace(year=2030),
        now=utcnow(),
    )
    db.session.commit()
    db.session.refresh(held)
    assert held.status == DeliveryStatus.HELD

    line_api.quota_limit = 100
    from server.line.models import LineChannel as Channel

    db.session.query(Channel).filter_by(shop_id=shop.id).update({"quota_checked_at": None})
    db.session.commit()
    released = admin.post("/api/admin/line/deliveries/release", shop=shop)
    cancelled = admin.post(f"/api/admin/line/deliveries/{later.id}/cancel", shop=shop)

    assert released.json == {"released": 1}
    db.session.expire_all()
    assert db.session.get(Delivery, held.id).status == "sent"  # type: ignore[union-attr]
    assert cancelled.json == {"id": later.id, "status": "cancelled"}
    again = admin.post(f"/api/admin/line/deliveries/{held.id}/cancel", shop=shop)
    assert again.status_code == 422


# Rich menus -------------------------------------------------------------------------------------


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2500, 843), "navy").save(out, format="PNG")
    return out.getvalue()


def test_rich_menus_can_be_published_and_their_images_replaced(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=shop)
    db.session.commit()

    synced = admin.post("/api/admin/line/rich-menus/sync", shop=shop)
    assert synced.status_code == 200
    assert {m["state"] for m in synced.json["menus"] if m["line_rich_menu_id"]} == {
        "unlinked",
        "linked",
        "subscriber",
    }

    image = admin.get("/api/admin/line/rich-menus/linked/image", shop=shop)
    assert image.status_code == 200
    assert image.mimetype == "image/png"

    replaced = admin.put(
        "/api/admin/line/rich-menus/linked/image", shop=shop, data=png(), content_type="image/png"
    )
    assert replaced.status_code == 200
    linked = next(m for m in replaced.json["menus"] if m["state"] == "linked")
    assert linked["custom_image"] is True
    assert admin.get("/api/admin/line/rich-menus/linked/image", shop=shop).data == png()

    bad = admin.put("/api/admin/line/rich-menus/linked/image", shop=shop, data=b"nope")
    assert bad.status_code == 422
    assert admin.get("/api/admin/line/rich-menus/gold/image", shop=shop).status_code == 404

    reset = admin.delete("/api/admin/line/rich-menus/linked/image", shop=shop)
    assert next(m for m in reset.json["menus"] if m["state"] == "linked")["custom_image"] is False


# Friends ----------------------------------------------------------------------------------------


def test_the_merchant_can_unlink_a_friend(
    admin: AdminClient, shop: Shop, line_api: LineStandIn
) -> None:
    LineChannelFactory(shop=shop)
    customer = CustomerFactory(shop=shop, last_name="山田", first_name="花子")
    friend = LineUserFactory(shop=shop, customer_id=customer.id, linked_at=utcnow())
    db.session.commit()

    listed = admin.get("/api/admin/line/friends?linked=1", shop=shop).json
    assert [f["customer"]["name"] for f in listed["friends"]] == ["山田 花子"]

    response = admin.delete(f"/api/admin/line/friends/{friend.id}/link", shop=shop)

    assert response.json == {"id": friend.id, "linked": False, "changed": True}
    db.session.refresh(friend)
    assert friend.customer_id is None
    assert "ストアによりアカウント連携が解除" in line_api.delivered_texts()[-1]


# Tenancy and auth -------------------------------------------------------------------------------


def test_another_shops_ids_are_404(admin: AdminClient, shop: Shop) -> None:
    other = ShopFactory()
    friend = LineUserFactory(shop=other, customer_id=CustomerFactory(shop=other).id)
    row = delivery.deliver(
        other,
        friend,
        [{"type": "text", "text": "x"}],
        kind="transactional",
        not_before=utcnow().replace(year=2030),
        now=utcnow(),
    )
    db.session.commit()

    assert admin.delete(f"/api/admin/line/friends/{friend.id}/link", shop=shop).status_code == 404
    assert admin.post(f"/api/admin/line/deliveries/{row.id}/cancel", shop=shop).status_code == 404
    assert admin.get("/api/admin/line/deliveries", shop=shop).json["deliveries"] == []
    db.session.refresh(friend)
    assert friend.customer_id is not None


def test_every_line_admin_route_needs_a_session_token(client: FlaskClient) -> None:
    for method, path in [
        ("GET", "/api/admin/line/channel"),
        ("PUT", "/api/admin/line/channel"),
        ("GET", "/api/admin/line/deliveries"),
        ("POST", "/api/admin/line/rich-menus/sync"),
    ]:
        assert client.open(path, method=method).status_code == 401
