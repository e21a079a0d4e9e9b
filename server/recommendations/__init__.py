"""Product recommendations learnt from a shop's order history: trained nightly, precomputed
per customer, filtered and served at request time.

Pure computations (numpy/scipy, no database): `training` (order lines as arrays, the sparse
matrices built from them, repurchase timing), `algorithms` (interchangeable recommenders behind
one `Recommender` protocol and the `RECOMMENDERS` registry, the production hybrid included),
`production` (fit the shop's configuration, compose each customer's stored list, fold one
customer in after an order, keep the item side) and `evaluation` (the offline protocol:
temporal split with a validation period for tuning, ranking metrics, the results table).

Tables (`models`): `RecommendationSettings` (the shop's chosen algorithm, its evaluation and
the products it never recommends), `RecommendationModel` (one row per training run, with the
cold-start best sellers and the item side for refreshes), `CustomerRecommendation` (each
reachable customer's ranked list) and `ReorderPrediction` (run-out dates, indexed for "who is
due today").

What other features call: `services` (`train_shop`, `refresh_customer`, `refresh_due`,
`evaluate_shop`, the order/link/redact listeners), `serving` (`recommendations_for`,
`due_to_reorder`, `reorders_due`: reads only, the request-time filters), `carousel` (the LINE
Flex carousel) and `messaging` (the carousel a friend asks for from the rich menu). `history`
reads a shop's orders as arrays; `tasks` holds the nightly training, the morning refresh of
the customers due to reorder and the refresh after an order or a link; `cli` exposes
`flask recommendations train` and `flask recommendations evaluate`.
"""
