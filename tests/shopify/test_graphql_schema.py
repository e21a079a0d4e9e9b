"""Every GraphQL document the app sends validates against the Admin schema (2025-04 SDL)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from graphql import parse

from server.shopify.client import OPERATION_MODULES
from tests.fakes.shopify_api import validate_document

ROOT = Path(__file__).resolve().parents[2]


def documents() -> list[tuple[str, str]]:
    found = []
    for name in OPERATION_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                attr.isupper()
                and isinstance(value, str)
                and value.lstrip().startswith(("query", "mutation", "{"))
            ):
                found.append((f"{name}.{attr}", value))
    return found


def test_the_operation_modules_hold_every_document_in_the_code() -> None:
    """A module that sends GraphQL through client.graphql must be listed in OPERATION_MODULES."""
    senders = {
        "server." + ".".join(path.relative_to(ROOT / "server").with_suffix("").parts)
        for path in (ROOT / "server").rglob("*.py")
        if "graphql(" in path.read_text(encoding="utf-8") and path.name not in ("client.py",)
    }
    assert senders <= set(OPERATION_MODULES)


@pytest.mark.parametrize(("name", "document"), documents(), ids=[n for n, _ in documents()])
def test_document_is_valid_against_the_admin_schema(name: str, document: str) -> None:
    parse(document)
    assert validate_document(document) == []


def test_a_wrong_field_would_be_caught() -> None:
    errors = validate_document("query X { shop { nameWithTypo } }")
    assert errors
    assert "nameWithTypo" in errors[0].message
