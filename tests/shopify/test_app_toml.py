"""shopify.app.toml and shopify.web.toml agree with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from server.config import DEFAULTS
from server.shopify.topics import ALL_TOPICS, COMPLIANCE_TOPICS

ROOT = Path(__file__).resolve().parents[2]
APP_TOML = ROOT / "shopify.app.toml"


def app_config() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(APP_TOML.read_text(encoding="utf-8"))


def subscribed_topics() -> set[str]:
    topics: set[str] = set()
    for subscription in app_config()["webhooks"]["subscriptions"]:
        topics |= set(subscription.get("topics", []))
        topics |= set(subscription.get("compliance_topics", []))
    return topics


def test_every_subscribed_topic_has_a_handler_and_every_handler_is_subscribed() -> None:
    assert subscribed_topics() == set(ALL_TOPICS)


def test_the_mandatory_compliance_topics_are_subscribed_as_compliance_topics() -> None:
    compliance = {
        topic
        for subscription in app_config()["webhooks"]["subscriptions"]
        for topic in subscription.get("compliance_topics", [])
    }
    assert compliance == {"customers/data_request", "customers/redact", "shop/redact"}
    assert compliance == set(COMPLIANCE_TOPICS)


def test_every_subscription_goes_to_the_one_endpoint_and_says_what_handles_it() -> None:
    lines = APP_TOML.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "[[webhooks.subscriptions]]"]
    assert len(starts) == len(app_config()["webhooks"]["subscriptions"])
    for start in starts:
        comments = []
        for line in reversed(lines[:start]):
            if not line.strip().startswith("#"):
                break
            comments.append(line)
        handled_by = [c for c in comments if "Handled by:" in c]
        assert handled_by, f"subscription at line {start + 1} has no '# Handled by:' comment"
        for path in re.findall(r"(server/[\w/]+\.py)", " ".join(comments)):
            assert (ROOT / path).is_file(), path
    for subscription in app_config()["webhooks"]["subscriptions"]:
        assert subscription["uri"] == "/webhooks/shopify"


def test_the_toml_scopes_are_the_scopes_the_code_requests() -> None:
    toml_scopes = set(app_config()["access_scopes"]["scopes"].split(","))
    assert toml_scopes == set(str(DEFAULTS["SHOPIFY_SCOPES"]).split(","))
    assert "write_app_proxy" in toml_scopes  # the App Proxy needs it


def test_the_app_is_embedded_with_its_proxy_extension_and_callback() -> None:
    config = app_config()
    assert config["embedded"] is True
    assert config["extension_directories"] == ["shopify_extension"]
    assert config["auth"]["redirect_urls"][0].endswith("/auth/callback")
    proxy = config["app_proxy"]
    assert proxy["prefix"] == "apps"
    assert proxy["subpath"] == "kizuna"
    assert proxy["url"].endswith("/proxy")
    assert re.fullmatch(r"\d{4}-(01|04|07|10)", config["webhooks"]["api_version"])


def test_the_web_toml_runs_the_flask_app_and_the_worker() -> None:
    web = tomllib.loads((ROOT / "shopify.web.toml").read_text(encoding="utf-8"))
    assert set(web["roles"]) == {"frontend", "backend"}
    assert web["webhooks_path"] == "/webhooks/shopify"
    script = ROOT / web["commands"]["dev"]
    assert script.is_file()
    text = script.read_text(encoding="utf-8")
    assert "run-dev" in text  # which starts `flask run` and `flask worker`
    assert "worker" in (ROOT / "scripts" / "run-dev").read_text(encoding="utf-8")
