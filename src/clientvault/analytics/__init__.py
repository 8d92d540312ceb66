"""Analytics: KPIs, funnels, retention cohorts, customer lifetime value models and the A/B
testing engine, computed in the database and checked against independent references."""
