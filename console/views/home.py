from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods

from organizations.forms import ProfileForm
from organizations.models import Membership
from organizations.services import (
    account_profile_update,
    password_changed_notice,
    sessions_end_others,
)
from portal.links import safe_next
from portal.models import Announcement
from portal.services import announcement_dismiss


@login_required
def home(request):
    """Administrators start on their organization; everyone else on their licenses."""
    if hasattr(request.user, "administered_organization"):
        return redirect("organizations:overview")
    return redirect("licensing:my_licenses")


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    form = ProfileForm(request.POST or None, initial={"name": request.user.name})
    if request.method == "POST" and form.is_valid():
        account_profile_update(
            actor=request.user, account=request.user, name=form.cleaned_data["name"]
        )
        messages.success(request, "Your profile was saved.")
        return redirect("account")
    memberships = Membership.objects.filter(account=request.user).select_related("organization")
    setup_request = request.user.setup_requests.order_by("-created_at").first()
    template = "portal/account.html#profile-form" if request.htmx else "portal/account.html"
    context = {"form": form, "memberships": memberships, "setup_request": setup_request}
    return render(request, template, context)


@login_required
@require_http_methods(["POST"])
def dismiss_announcement(request, pk: int):
    announcement = get_object_or_404(Announcement, pk=pk)
    announcement_dismiss(account=request.user, announcement=announcement)
    if request.htmx:
        return HttpResponse("")
    return redirect(safe_next(request, request.POST.get("next")))


@require_http_methods(["GET", "POST"])
def sign_out(request):
    """Sign-out confirms: a GET (a bookmark, a typed address) asks first; the POST signs out
    and says so."""
    if request.method == "POST":
        logout(request)
        return render(request, "registration/logged_out.html")
    if not request.user.is_authenticated:
        return redirect("login")
    return render(request, "registration/logout_confirm.html")


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links; the icon is a static file (its
    hashed name is known only once static files are collected, so it is looked up here)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, confirmed to the account by email."""

    def form_valid(self, form):
        response = super().form_valid(form)
        password_changed_notice(account=form.user)
        # Django already refuses the other sessions (their password hash is stale); ending
        # them takes them off the Security page's list as well.
        sessions_end_others(account=form.user, keep_session_key=self.request.session.session_key)
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset link, its new password confirmed to the account by email."""

    def form_valid(self, form):
        response = super().form_valid(form)
        password_changed_notice(account=form.user)
        sessions_end_others(account=form.user, keep_session_key="")
        return response
