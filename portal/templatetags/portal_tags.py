from django import template

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """ "seat.assigned" → "Seat assigned": audit actions read as plain words on pages."""
    words = (action or "").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
