"""Small pieces of English the pages and emails share."""

from decimal import ROUND_HALF_UP, Decimal


def with_article(noun: str) -> str:
    """ "Asset Library" → "an Asset Library", "Render Studio" → "a Render Studio". By the first
    letter: product names are proper nouns, read as spelled."""
    noun = str(noun or "").strip()
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def money(amount, currency: str) -> str:
    """An amount of money with thousands separators and its currency: "1,234.50 EUR"."""
    return f"{Decimal(amount).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f} {currency}"
