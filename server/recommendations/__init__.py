"""Product recommendations learnt from a shop's order history.

Owns the pure computations: `training` (order lines as arrays, the sparse matrices built from
them, repurchase timing: when each customer will run out of what they buy again), `algorithms`
(interchangeable recommenders behind one `Recommender` protocol and the `RECOMMENDERS` registry,
including the production hybrid of repeat, discovery and popularity) and `evaluation` (the
offline protocol: public data sets, temporal split with a validation period for tuning, ranking
metrics, the results table). `cli` exposes `flask recommendations evaluate`, which needs no
database. No tables yet: nothing here reads or writes the database.
"""
