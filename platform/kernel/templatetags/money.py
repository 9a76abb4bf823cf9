"""`{{ amount|cny }}`: an amount of CNY with exactly two decimals (a template builtin)."""

from django import template

from kernel.money import format_cny

register = template.Library()


@register.filter
def cny(amount) -> str:
    """Blank amounts (no value yet) show as a dash, never as "None"."""
    if amount is None or amount == "":
        return "–"
    return format_cny(amount)
