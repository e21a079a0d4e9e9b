"""The LIFF API fixtures (LINE's JWKS stood in, a client sending ID tokens, a linked member
and a friend who has not linked) for these tests."""

from tests.liff.conftest import liff, line_keys, stranger, visitor  # noqa: F401 - fixtures
