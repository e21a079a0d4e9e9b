"""Admin JSON API endpoints, one module per feature; children of the authenticating parent."""
