from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from credits import selectors


@login_required
def my_credits(request):
    """R31: the account's personal credit balance (source and quota views grow here)."""
    context = {"personal_available": selectors.personal_available(account=request.user)}
    return render(request, "credits/my_credits.html", context)
