"""Small pieces of English the pages and emails share."""


def with_article(noun: str) -> str:
    """ "Asset Library" → "an Asset Library", "Render Studio" → "a Render Studio". By the first
    letter: product names are proper nouns, read as spelled."""
    noun = str(noun or "").strip()
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
