"""R3: non-commercial accounts ask for an organization; staff confirm or reject in the admin."""

import pytest
from django.core import mail

from organizations.models import Organization, SetupRequest
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

SETUP_URL = "/organization/setup/"
CHANGELIST = "/admin/organizations/setuprequest/"


@pytest.fixture
def requester():
    return AccountFactory(kind="student", email="student@school.example")


@pytest.fixture
def future_admin():
    return AccountFactory(kind="educator", email="teacher@school.example")


def _file(client, future_admin, **overrides):
    data = {
        "organization_name": "Render Lab",
        "admin_email": future_admin.email.upper(),
        "admin_customer_number": future_admin.customer_number,
        **overrides,
    }
    return client.post(SETUP_URL, data)


def test_the_form_refuses_a_customer_number_of_another_account(login, requester, future_admin):
    """R3: email and customer number must belong to the same account; nothing is filed."""
    other = AccountFactory()
    response = _file(login(requester), future_admin, admin_customer_number=other.customer_number)
    assert response.status_code == 200
    assert "do not belong to the same account" in response.content.decode()
    assert not SetupRequest.objects.exists()


def test_the_form_refuses_an_unknown_email(login, requester):
    response = login(requester).post(
        SETUP_URL,
        {
            "organization_name": "X",
            "admin_email": "nobody@example.com",
            "admin_customer_number": "1234567890",
        },
    )
    assert "do not belong to the same account" in response.content.decode()
    assert not SetupRequest.objects.exists()


def test_a_malformed_customer_number_is_reported_next_to_the_field(login, requester, future_admin):
    response = _file(login(requester), future_admin, admin_customer_number="12ab")
    assert "A customer number has 10 digits." in response.content.decode()
    assert not SetupRequest.objects.exists()


def test_the_requester_sees_the_pending_request(login, requester, future_admin):
    client = login(requester)
    response = _file(client, future_admin)
    assert response.status_code == 302
    page = client.get(SETUP_URL).content.decode()
    assert "Render Lab" in page and "Pending" in page
    assert "waiting for our staff" in page


def test_commercial_accounts_have_no_setup_page(admin_client):
    """R2: commercial accounts already have their organization."""
    response = admin_client.get(SETUP_URL)
    assert response.status_code == 302
    assert response["Location"] == "/organization/"


def test_staff_confirm_in_the_admin_and_the_organization_appears(
    client, login, requester, future_admin, staff
):
    """R3 end to end: file → staff confirm (admin action) → organization, email, tab."""
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    assert mail.outbox[-1].to == [staff.email] and "Render Lab" in mail.outbox[-1].subject
    mail.outbox.clear()  # the notice to staff; what follows is the answer
    client.force_login(staff)
    response = client.post(
        CHANGELIST,
        {"action": "confirm_requests", "_selected_action": [setup_request.pk]},
    )
    assert response.status_code == 302
    organization = Organization.objects.get(administrator=future_admin)
    assert organization.name == "Render Lab"
    assert organization.customer_number == future_admin.customer_number
    setup_request.refresh_from_db()
    assert setup_request.state == "confirmed"
    assert sorted(mail.outbox[0].to) == sorted([requester.email, future_admin.email])
    client.force_login(future_admin)
    assert 'href="/organization/"' in client.get("/account/").content.decode()
    assert client.get("/organization/").status_code == 200
    client.force_login(requester)
    assert "Confirmed" in client.get(SETUP_URL).content.decode()


def test_staff_reject_with_a_reason_that_the_requester_sees(
    client, login, requester, future_admin, staff
):
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    assert mail.outbox[-1].to == [staff.email] and "Render Lab" in mail.outbox[-1].subject
    mail.outbox.clear()  # the notice to staff; what follows is the answer
    client.force_login(staff)
    ask = client.post(
        CHANGELIST, {"action": "reject_requests", "_selected_action": [setup_request.pk]}
    )
    assert ask.status_code == 200 and "Reason" in ask.content.decode()
    client.post(
        CHANGELIST,
        {
            "action": "reject_requests",
            "_selected_action": [setup_request.pk],
            "apply": "1",
            "reason": "Please use your school's account.",
        },
    )
    setup_request.refresh_from_db()
    assert setup_request.state == "rejected"
    assert not Organization.objects.filter(administrator=future_admin).exists()
    assert "Please use your school's account." in mail.outbox[0].body
    client.force_login(requester)
    page = client.get(SETUP_URL).content.decode()
    assert "Rejected" in page and "Please use your school&#x27;s account." in page


def test_a_request_cannot_be_confirmed_twice(client, login, requester, future_admin, staff):
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    assert mail.outbox[-1].to == [staff.email] and "Render Lab" in mail.outbox[-1].subject
    mail.outbox.clear()  # the notice to staff; what follows is the answer
    client.force_login(staff)
    for _ in range(2):
        client.post(
            CHANGELIST, {"action": "confirm_requests", "_selected_action": [setup_request.pk]}
        )
    assert Organization.objects.filter(administrator=future_admin).count() == 1
    assert len(mail.outbox) == 1


def test_non_staff_cannot_use_the_admin(client, requester):
    client.force_login(requester)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_requester_withdraws_a_pending_request_and_the_account_page_shows_it(
    login, requester, future_admin
):
    client = login(requester)
    _file(client, future_admin)
    assert "Pending" in client.get("/account/").content.decode()
    setup_request = SetupRequest.objects.get()
    response = client.post(f"{SETUP_URL}{setup_request.pk}/withdraw/")
    assert response.status_code == 302
    setup_request.refresh_from_db()
    assert setup_request.state == "withdrawn"
    assert "Withdrawn" in client.get("/account/").content.decode()
    # Withdrawn, it is no longer pending: a new request may be filed.
    assert _file(client, future_admin, organization_name="Render Lab 2").status_code == 302


def test_nobody_else_can_withdraw_a_setup_request(login, requester, future_admin):
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    other = login(AccountFactory(kind="student"))
    assert other.post(f"{SETUP_URL}{setup_request.pk}/withdraw/").status_code == 404
    setup_request.refresh_from_db()
    assert setup_request.state == "pending"


def test_the_request_page_confirms_after_asking_once_more(
    client, login, requester, future_admin, staff
):
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    client.force_login(staff)
    page = client.get(f"{CHANGELIST}{setup_request.pk}/change/").content.decode()
    assert "Confirm…" in page and "Reject…" in page
    asked = client.get(f"{CHANGELIST}{setup_request.pk}/confirm/")
    assert "Confirm the setup of Render Lab?" in asked.content.decode()
    assert not Organization.objects.filter(administrator=future_admin).exists()
    client.post(f"{CHANGELIST}{setup_request.pk}/confirm/")
    assert Organization.objects.filter(administrator=future_admin).exists()
    page = client.get(f"{CHANGELIST}{setup_request.pk}/change/").content.decode()
    assert "Confirm…" not in page


def test_the_request_page_rejects_with_a_reason(client, login, requester, future_admin, staff):
    _file(login(requester), future_admin)
    setup_request = SetupRequest.objects.get()
    client.force_login(staff)
    url = f"{CHANGELIST}{setup_request.pk}/reject/"
    assert client.post(url, {"reason": ""}).status_code == 200  # the reason is required
    client.post(url, {"reason": "Use the school's account."})
    setup_request.refresh_from_db()
    assert setup_request.state == "rejected"
    assert setup_request.rejection_reason == "Use the school's account."
