"""LINE: each shop's channels, LINE friends (LineUser), the webhook and the delivery pipeline.

- channels.py: the channel settings; access.py: outbox or API, a fresh access token, the quota;
- rules.py: quiet hours and the frequency cap; delivery.py: the pipeline that applies them.
"""
