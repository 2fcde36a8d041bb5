from django import template

from portal.text import with_article

register = template.Library()
register.filter("with_article", with_article)
