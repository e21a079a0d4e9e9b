"""The theme app extension (shopify_extension/): the "LINEと連携する" block and its locales.
Shopify's Theme Check runs on it in `make theme-check` (part of `make test`)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "shopify_extension"


def keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        found |= keys(value, path + ".") if isinstance(value, dict) else {path}
    return found


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXTENSION / "locales" / name).read_text(encoding="utf-8"))
    return data


def test_the_block_links_to_the_app_proxy_page_the_app_declares() -> None:
    app = tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))
    proxy = app["app_proxy"]
    assert (proxy["prefix"], proxy["subpath"]) == ("apps", "kizuna")
    assert app["extension_directories"] == ["shopify_extension"]
    assert (EXTENSION / "shopify.extension.toml").is_file()
    block = (EXTENSION / "blocks" / "line_link.liquid").read_text(encoding="utf-8")
    assert "/apps/kizuna/link" in block
    schema = json.loads(re.search(r"{% schema %}(.*){% endschema %}", block, re.S).group(1))  # type: ignore[union-attr]
    assert schema["target"] == "section"
    assert {s["id"] for s in schema["settings"]} >= {"label", "style", "color"}


def test_japanese_comes_first_and_english_has_every_key() -> None:
    assert load("ja.default.schema.json")["blocks"]["line_link"]["name"] == "LINEと連携する"
    assert load("ja.default.json")["blocks"]["line_link"]["default_label"] == "LINEと連携する"
    assert keys(load("ja.default.json")) == keys(load("en.json"))
    assert keys(load("ja.default.schema.json")) == keys(load("en.schema.json"))


def test_every_translation_the_block_uses_exists() -> None:
    block = (EXTENSION / "blocks" / "line_link.liquid").read_text(encoding="utf-8")
    used_t = set(re.findall(r'"t:([\w.]+)"', block))
    used_filter = set(re.findall(r"'([\w.]+)' \| t\b", block))
    assert used_t <= keys(load("ja.default.schema.json"))
    assert used_filter <= keys(load("ja.default.json"))
