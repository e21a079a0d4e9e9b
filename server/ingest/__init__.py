"""Inbound platform events (Shopify and LINE webhooks): stored first, processed later.

Owns `webhook_events`. The webhook views record an event (unique per source and event id, so a
redelivery is a no-op), commit, enqueue and answer; each platform's task then runs its handler
through `run_event`, which counts attempts and keeps the last error. Features never import this
package's callers.
"""
