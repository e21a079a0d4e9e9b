"""ID linking: a LINE friend ↔ the shop's customer, by LINE Login (via the App Proxy) or by the
Messaging API account-link flow; unlinking from either side; the once-ever link incentive.

Owns `link_requests`, `login_states` and `link_incentive_grants`. Other features call
`services.link`/`services.unlink` and register listeners in `services.LINK_LISTENERS`,
`LINK_INCENTIVE_LISTENERS` and `UNLINK_LISTENERS`.
"""
