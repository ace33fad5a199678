"""Services: every write to the campaign's data goes through these keyword-only functions."""
