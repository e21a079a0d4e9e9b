"""Segments: who is in a group of customers and LINE friends, evaluated in SQL over live data.

Owns `segments` (saved filter definitions), `survey_answers` (the latest answer of each LINE friend
to each survey question), `nine_segment_profiles` (each friend's cell on Nishiguchi's 9-segment map)
and `nine_segment_moves` (every change of cell, for movement over time).

Other features call `services.count`, `services.member_query`, `services.matches` (is one
person in a definition?), and `nine_segments.start_survey` / `nine_segments.answer`.
"""
