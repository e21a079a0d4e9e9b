"""Lifecycle marketing: step scenarios (trigger → entry conditions → timed steps → exits),
broadcasts, holdout groups, tracked links and attribution.

Owns `scenarios`, `scenario_steps`, `scenario_enrollments` (who entered which scenario, once
per trigger event, in the treatment or the holdout group) and `scheduled_messages` (the
database is the source of truth for due step messages: listable and cancellable; a periodic
task claims due rows and hands them to the LINE delivery pipeline, which enforces caps and
quiet hours); `tracked_links` and `link_clicks` (the `/r/<token>` redirects in LINE messages
and every click on them).

Modules:
- models.py: the tables above;
- triggers.py: the listener functions the other features' tuples call (orders, subscriptions,
  follows, links, tiers, surveys, privacy) and the periodic finders (dormant, coupons expiring);
- scheduling.py: when a step is due (delays, "10:00 on day N" in the shop's zone, delays
  computed from data) and the claim-and-send loop;
- services.py: enrollment (one person, or a whole segment in set-based SQL), exits, the
  scenario CRUD the admin API calls, and reads for the inbox;
- messages.py: LINE messages of a step, with the variables filled in;
- preview.py: the editor's step timeline (each step rendered, and when it goes out after quiet
  hours and the frequency cap);
- recommended.py: the recipient's recommended products in a message (a carousel, variables);
- cancellation.py: the cancellation-reason questions and the restart timing they give;
- templates.py: the ready-made Japanese scenarios of the template gallery;
- tasks.py: the periodic tasks;
- holdout.py: `in_holdout(salt, subject_id, percent)`, a stable random assignment per subject;
- lift.py: pure statistics, difference of two proportions (Newcombe) and of two means (Welch)
  with confidence intervals;
- links.py: `track_url(shop, url, ...)` gives an unguessable `APP_URL/r/<token>` that records
  the click and redirects only to the shop's own domains (`track_messages` does it for every
  link to the shop in a recipient's LINE messages: step messages, personalised broadcasts);
  views.py serves it;
- broadcasts.py: composing a broadcast (validation, drafts, scheduling, cancelling, the preview);
  broadcast_audience.py: who it reaches and what that costs against the LINE quota;
  broadcast_sending.py: claiming and sending it in batches through the delivery pipeline;
  broadcast_results.py: deliveries, clicks, attributed orders and the lift against the holdout;
- attribution.py: the orders a send brought in (after a click within the window, or with a
  coupon it issued), and per-subject outcomes for treatment/holdout comparisons, in SQL.

Other features call `services.active_enrollments` (inbox panel) and
`services.segment_in_use` (segments: a saved segment a scenario uses cannot be deleted).
"""
