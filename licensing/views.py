from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from licensing import selectors


@login_required
def my_licenses(request):
    """R31: every account sees its personal licenses and the seats assigned to it."""
    licenses = selectors.licenses_for_account(account=request.user)
    return render(request, "licensing/my_licenses.html", {"licenses": licenses})
