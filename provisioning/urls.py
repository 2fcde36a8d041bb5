from django.urls import re_path

from provisioning import views

# Every path under /scim/v2/ goes to the one SCIM view, which routes it (scim2-server), so that
# an unknown path answers in the SCIM error format too.
urlpatterns = [re_path(r"^(?P<path>.*)$", views.scim, name="scim")]
