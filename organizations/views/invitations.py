"""The invitation link: complete the account and join the organization (R6).

Open to anyone holding the link; the link itself is the credential, bound to the invited
email. What the page offers depends on who opens it (docs/members.md):

- nobody signed in, no account with that email: a form for name and password; the account is
  created and joins in one transaction, then is signed in;
- nobody signed in, an account with that email exists by now: sign in first, then accept;
- signed in with the invited email: one button to join;
- signed in as another account: refused.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from organizations import services
from organizations.forms import InvitationAcceptForm
from organizations.models import Account, normalize_email
from portal import errors

TEMPLATE = "organizations/invitation_accept.html"


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_check_usable(services.invitation_by_token(token))
    except services.InvitationUnusable as exc:
        status = 404 if exc.reason == "unknown" else 410
        return render(
            request, TEMPLATE, {"problem": exc.message, "reason": exc.reason}, status=status
        )
    context = {"invitation": invitation, "organization": invitation.organization}
    user = request.user
    if user.is_authenticated and normalize_email(user.email) != invitation.email:
        context["wrong_account"] = True
        return render(request, TEMPLATE, context, status=403)
    if user.is_authenticated:
        if request.method == "POST":
            return _accept(request, token, context, user=user)
        context["mode"] = "join"
        return render(request, TEMPLATE, context)
    if Account.objects.filter(email=invitation.email).exists():
        context["mode"] = "sign_in"
        context["login_url"] = reverse("login") + "?" + urlencode({"next": request.path})
        return render(request, TEMPLATE, context)
    form = InvitationAcceptForm(request.POST or None, email=invitation.email)
    context.update(mode="create", form=form)
    if request.method == "POST":
        if form.is_valid():
            return _accept(
                request,
                token,
                context,
                name=form.cleaned_data["name"],
                password=form.cleaned_data["password1"],
            )
        return render(request, TEMPLATE, context, status=422)
    return render(request, TEMPLATE, context)


def _accept(request, token, context, *, user=None, name="", password=None):
    try:
        membership = services.invitation_accept(
            token=token, user=user, name=name, password=password
        )
    except errors.DomainError as exc:
        context["problem"] = exc.message
        return render(request, TEMPLATE, context, status=exc.status)
    if user is None:
        login(request, membership.account, backend="organizations.backends.EmailBackend")
    messages.success(request, f"Welcome to {membership.organization.name}.")
    return redirect("home")
