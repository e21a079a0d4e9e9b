"""The demo shop: a deterministic Japanese D2C brand with 18 months of history, for `make run`.

Only ever created by `flask --app server demo`; nothing else reads or writes it specially
except the demo sign-in (server/admin/demo.py), which exists only with KIZUNA_DEMO=1.
"""
