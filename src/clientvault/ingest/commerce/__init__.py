"""Commerce: the tables of products, orders and refunds (``models``) and the consumer of the
event log that fills them from Segment's e-commerce events (``consumer``)."""
