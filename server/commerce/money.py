"""Money as integer minor units. Shopify sends decimal strings ("1200.00"); floats never appear."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

# ISO 4217 minor-unit exponents for the currencies whose exponent is not 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "TWD": 2, "KWD": 3, "BHD": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


@lru_cache(maxsize=8192)  # prices repeat: a history import converts the same few amounts often
def to_minor(amount: str | Decimal | int, currency: str) -> int:
    value = Decimal(str(amount)).scaleb(exponent(currency))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def format_money(minor: int, currency: str) -> str:
    """¥3,200 for JPY; other currencies as "12.50 USD"."""
    if currency.upper() == "JPY":
        return f"¥{minor:,}"
    return f"{to_decimal(minor, currency):,.{exponent(currency)}f} {currency.upper()}"
