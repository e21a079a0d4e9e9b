"""Kizuna's test suite (a package, so test folders never shadow libraries such as `shopify`)."""
