"""LINE: each shop's channels, LINE friends (LineUser), the webhook and the delivery pipeline."""
