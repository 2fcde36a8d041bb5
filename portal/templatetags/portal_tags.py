from django import template

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """ "seat.assigned" → "Seat assigned": audit actions read as plain words on pages."""
    words = (action or "").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@register.filter
def detail_value(value) -> str:
    """Audit details read as plain text: lists joined, changes as "from → to"."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{value['from'] or '—'} → {value['to'] or '—'}"
    return str(value)
