"""Licensing endpoints: entitlements (service) and organization seats (org:admin)."""

from ninja import Router

router = Router(tags=["licensing"])
