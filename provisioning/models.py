"""What an organization's directory said about each member it provisions (R44)."""

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class DirectoryUser(models.Model):
    """The directory's record of one member: its name for the person (`userName`), its own id
    (`externalId`) and the attributes it sent (name, display name, emails), kept as sent and
    answered back. The SCIM id is the membership's id; removing the member (R9) deletes the
    record with the membership, so provisioning the person again is a new create.

    The account is created or found from the record's email when the member is added; later
    changes of the record do not change the account, which belongs to the person (it may
    hold personal licenses and credits, R8).
    """

    membership = models.OneToOneField(
        "organizations.Membership",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="directory_user",
    )
    # A copy of the membership's organization, for the uniqueness of `user_name` in it.
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    user_name = models.CharField(max_length=254)
    external_id = models.CharField(max_length=254, blank=True)
    attributes = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # SCIM userName is unique in the organization whatever its case (caseExact false).
            models.UniqueConstraint(
                "organization", Lower("user_name"), name="directory_user_name_unique"
            ),
        ]

    def __str__(self):
        return self.user_name
