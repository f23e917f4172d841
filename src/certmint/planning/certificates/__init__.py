"""A Certificate's plan: the gates, the triggers, its Secret's contents and when to renew."""
