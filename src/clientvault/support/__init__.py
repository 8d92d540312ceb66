"""Customer support: tickets routed to the agent best placed to answer, SLAs in business
hours, CSAT surveys, and a knowledge-base chatbot that hands over to a human."""
