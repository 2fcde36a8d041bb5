"""Admin actions that need one more input (a reason, an email) before they run."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from portal import errors


def action_with_form(form_class: type[forms.Form], *, description: str, template_title: str):
    """Turn `apply(modeladmin, request, obj, **cleaned_data)` into an admin action that first
    asks for `form_class` on an intermediate page, then applies it to each selected object and
    reports each domain error as a message instead of failing the whole batch."""

    def decorator(apply):
        @admin.action(description=description)
        def action(modeladmin, request, queryset):
            form = form_class(request.POST if "apply" in request.POST else None)
            if "apply" in request.POST and form.is_valid():
                done = 0
                for obj in queryset:
                    try:
                        apply(modeladmin, request, obj, **form.cleaned_data)
                        done += 1
                    except errors.DomainError as exc:
                        modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                if done:
                    modeladmin.message_user(
                        request, f"{description}: {done} done.", messages.SUCCESS
                    )
                return None
            context = {
                **modeladmin.admin_site.each_context(request),
                "title": template_title,
                "form": form,
                "queryset": queryset,
                "action_name": apply.__name__,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": modeladmin.model._meta,
            }
            return TemplateResponse(request, "admin/action_form.html", context)

        action.__name__ = apply.__name__
        return action

    return decorator
