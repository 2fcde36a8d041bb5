"""The rule for names people give (accounts, organizations, products): trimmed, and visible.

Services apply it whatever the door (pages, admin, API, commands); forms call the same
function to show the message next to the field.
"""

import unicodedata

from django import forms

from portal import errors

INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")


def visible_name(
    value, *, field: str = "name", required: bool, message: str = "Enter a name.", max_length=150
) -> str:
    """Trimmed; a name made only of invisible characters (zero-width spaces, direction marks,
    other format or control characters) is refused: nobody could see, find or select it."""
    value = str(value or "").strip()
    if value and all(unicodedata.category(ch) in INVISIBLE for ch in value):
        raise errors.InvalidRequest(
            "Use visible characters. " + message, field=field, fields={field: "invisible"}
        )
    if required and not value:
        raise errors.InvalidRequest(message, field=field, fields={field: "required"})
    if len(value) > max_length:
        raise errors.InvalidRequest(
            f"Use at most {max_length} characters.", field=field, fields={field: "too long"}
        )
    return value


def clean_visible_name(value, **rule) -> str:
    """`visible_name` for a form's `clean_<field>`: the refusal becomes the field's error."""
    try:
        return visible_name(value, **rule)
    except errors.InvalidRequest as exc:
        raise forms.ValidationError(exc.message) from exc
