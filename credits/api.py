"""Credit endpoints: balances, consumptions and refunds (service), credit access (org:admin)."""

from ninja import Router

router = Router(tags=["credits"])
