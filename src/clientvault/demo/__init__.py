"""Demo data: a seeded generator of synthetic customers with two years of realistic behaviour.

``generator.generate_demo`` fills an installation through the real write paths (profiles are
validated by ``identity.profiles.prepare_profile``, then sealed and blind-indexed by
``identity.profiles.create_prepared_customers``) with European customers (mostly French),
their sessions, page views, carts, orders, refunds, support tickets, survey answers and
consent decisions, plus planted duplicate people whose ground truth is kept for
scoring identity resolution. Everything is synthetic: e-mails are on ``example.*`` domains only.
The same seed gives the same data.

Modules: ``locales`` (countries, cities), ``pools`` (Faker name and street pools), ``draw``
(weighted choices), ``phones``, ``people`` (one synthetic person), ``duplicates`` (planted
second profiles), ``catalogue``, ``behaviour`` (a customer's timeline), ``consents``,
``planner`` (batches of everything), ``worker``
(planning in a second process), ``writer``, ``truth`` (the duplicates file), ``summary`` and
``generator`` (``generate_demo``, ``has_demo_data``).
"""
