"""What /scim/v2/ publishes about itself (R44): the User schema as the portal keeps it, the
one resource type, and the service provider configuration. `scim2-server` validates every
request against them, and a client (or the conformance checker) reads them from
/Schemas, /ResourceTypes and /ServiceProviderConfig.

The User schema is the core one (RFC 7643 §4.1) narrowed to what the portal keeps:
`userName` is immutable (R44: changing it is a mutability error); `emails` is required, as
the first (or primary) address is the account's; `active` is read-only and always true, as a
user that is not active is not kept: a request setting it to false removes the member
(`provisioning.storage`).
"""

from scim2_models import ResourceType, Schema, ScimProvider, ServiceProviderConfig

USER_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:User"
USER_MAX_RESULTS = 100


def _attribute(name: str, description: str, **qualities) -> dict:
    return {
        "name": name,
        "type": "string",
        "multiValued": False,
        "description": description,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
        **qualities,
    }


USER_SCHEMA = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
    "id": USER_SCHEMA_ID,
    "name": "User",
    "description": "A member of the organization.",
    "attributes": [
        _attribute(
            "userName",
            "The directory's unique name for the person, often the email address. It cannot "
            "be changed: remove the user and add them again.",
            required=True,
            mutability="immutable",
            uniqueness="server",
        ),
        _attribute(
            "name",
            "The person's name. Used for a new account; an existing account keeps its own.",
            type="complex",
            subAttributes=[
                _attribute("formatted", "The full name, as displayed."),
                _attribute("familyName", "The family name."),
                _attribute("givenName", "The given name."),
            ],
        ),
        _attribute("displayName", "The name to display."),
        _attribute(
            "emails",
            "Email addresses. The primary one (else the first) is the account the member "
            "signs in with; it is fixed when the user is added.",
            type="complex",
            multiValued=True,
            required=True,
            subAttributes=[
                _attribute("value", "The email address.", required=True),
                _attribute(
                    "type", "What the address is for.", canonicalValues=["work", "home", "other"]
                ),
                _attribute("primary", "The address the member signs in with.", type="boolean"),
            ],
        ),
        _attribute(
            "active",
            "Always true: a user the portal keeps is active. Setting it to false removes the "
            "member (seats and credit access end).",
            type="boolean",
            mutability="readOnly",
        ),
    ],
    "meta": {"resourceType": "Schema", "location": f"/Schemas/{USER_SCHEMA_ID}"},
}

USER_RESOURCE_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
    "id": "User",
    "name": "User",
    "endpoint": "/Users",
    "description": "The members of the organization; invitations are not listed.",
    "schema": USER_SCHEMA_ID,
    "meta": {"resourceType": "ResourceType", "location": "/ResourceTypes/User"},
}

CONFIG = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
    # Filters: `userName eq "…"` and `externalId eq "…"` (provisioning.storage).
    "filter": {"supported": True, "maxResults": USER_MAX_RESULTS},
    "changePassword": {"supported": False},
    "sort": {"supported": False},
    "etag": {"supported": False},
    "authenticationSchemes": [
        {
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "An organization API token with the scope scim, made on the "
            "organization's Settings page.",
            "primary": True,
        }
    ],
}


PROVIDER = ScimProvider.from_discovery(
    [Schema.model_validate(USER_SCHEMA)],
    [ResourceType.model_validate(USER_RESOURCE_TYPE)],
    ServiceProviderConfig.model_validate(CONFIG),
)
