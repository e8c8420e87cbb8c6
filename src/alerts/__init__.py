"""Alerts: rules evaluated from the live state, alert state in the database, and
notifications delivered through an outbox (see DESIGN.md, Partitions, and API.md, Alerts).

- ``model``: the values (rules, channels, silences, alerts) as the API shows them;
- ``machine``: one alert's lifecycle as a pure transition;
- ``evaluator``: the conditions, read from the events the bridge carries (on the loop);
- ``service``: alert state in the database and the evaluator's timers;
- ``outbox`` and ``delivery``: the sender and the two channel kinds.
"""
