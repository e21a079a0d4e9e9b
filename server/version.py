"""The installed package version, shown by /healthz and sent in the User-Agent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kizuna")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
