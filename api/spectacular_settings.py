"""SPECTACULAR_SETTINGS for the OpenAPI document of the API: plain data (no Django imports), so that
config/settings.py can import it and `manage.py spectacular`, the schema view and drf-spectacular's
deploy check all describe the same document. Hooks and overrides live in api.schema."""

SPECTACULAR_SETTINGS = {
    "TITLE": "Collections casework API",
    "DESCRIPTION": (
        "Cases, contacts, promises, payments and repayment plans, for the bank's core system, dialers, "
        "SMS gateways and reporting tools. Authenticate with `Authorization: Token <token>` "
        "(POST /api/v1/auth/token/) or the browser session. Objects outside your reach are 404. "
        "Refusals share one body: `code`, `rule`, `message`, `details` (+ `field`, `allowed_from`). "
        "See docs/api.md."
    ),
    "VERSION": "1.0.0",
    # The docs page's assets come from drf-spectacular-sidecar, served by the app: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["api.schema.only_api_v1"],
    # Integrations use tokens; the browser session works too (the docs page uses it) but is left out
    # of the document so that clients are not generated for cookies.
    "AUTHENTICATION_WHITELIST": ["knox.auth.TokenAuthentication"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
    # One name per choice set that several serializers share.
    "ENUM_NAME_OVERRIDES": {
        "CaseStateEnum": "collections_app.models.CaseState",
        "PlanStateEnum": "repayment_plans.models.PlanState",
        "PlanKindEnum": "repayment_plans.calculator.PlanKind",
        "EventKindEnum": "collections_app.models.EventKind",
        "ContactPointKindEnum": "collections_app.models.ContactPointKind",
        "ContactChannelEnum": "collections_app.models.Channel",
        "MessageChannelEnum": "messaging.models.MessageChannel",
        "RoleEnum": "accounts.models.Role",
    },
}
