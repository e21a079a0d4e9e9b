"""Encryption at rest for tokens and channel secrets (Fernet, key from ENCRYPTION_KEY).

ENCRYPTION_KEY may hold several keys joined by commas, newest first: values are written with
the first and read with any, so keys can be rotated without downtime.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, TypeDecorator


@lru_cache(maxsize=8)
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",")])


def _current() -> MultiFernet:
    return _fernet(str(current_app.config["ENCRYPTION_KEY"]))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("stored secret cannot be decrypted with ENCRYPTION_KEY") from error


class EncryptedString(TypeDecorator[str]):
    """A text column whose stored value is a Fernet token, never the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)
