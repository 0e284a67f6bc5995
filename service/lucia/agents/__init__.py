"""The agents lucia routes to, and the cards that describe them."""
