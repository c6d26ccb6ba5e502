"""The one settings module. Every value that differs between machines comes from the environment;
`.env.example` lists them all. With nothing set, the app runs on a SQLite file and a broker that
needs no server, so that `make run` works on a fresh clone."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
import pghistory
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("COLLECTIONS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
# An empty value counts as unset (`.env.example` ships `DJANGO_SECRET_KEY=`): it gets the same refusal
# as a missing one here, instead of Django's "SECRET_KEY must not be empty" at the first signed value.
_secret_key = env_str("DJANGO_SECRET_KEY")
SECRET_KEY = _secret_key if _secret_key.strip() else DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: refusing to start with the built-in "
        "development key (an empty value counts as not set). Set DJANGO_SECRET_KEY to a long random "
        "value (or DJANGO_DEBUG=1 on a laptop)."
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "accounts.apps.CollectionsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "django_fsm",
    "axes",  # sign-in lockout (see "Authentication" below)
    # The second factor (see "Second factor" below); before accounts, whose admin hides their device admin.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # History of every change (the history app): triggers, and the event models' context table.
    "pgtrigger",
    "pghistory",
    # Domain apps, lowest layer first (the import contracts in pyproject.toml hold this order).
    "core",
    "accounts",
    "contact_policy",
    "collections_app",
    "authority",
    "repayment_plans",
    "legal",
    "escalation",
    "messaging",
    "telephony",
    "imports",
    "dashboards",
    "history",
    "privacy",
    "automation",
    "api",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "accounts.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, see CONTENT_SECURITY_POLICY
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so that static files keep their long cache lifetime.
    "accounts.middleware.PrivateResponseMiddleware",
    "accounts.middleware.MalformedSessionCookieMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # user.is_verified(): this session gave its second factor
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication and messages: signs out idle users with a message (IDLE_TIMEOUT_MINUTES).
    "accounts.middleware.IdleTimeoutMiddleware",
    # After OTPMiddleware and the idle sign-out: until verified, the second-factor pages and logout only.
    "accounts.middleware.TwoFactorMiddleware",
    # After authentication: every change a request makes carries its actor, source and request id.
    "history.middleware.ChangeContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a locked-out sign-in into accounts.lockout.lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "accounts.context_processors.navigation",
            ],
        },
    }
]
# Forms render through Django's own renderer, with the input, textarea, select and label templates written
# in Python (the case page spent much of its time in them); byte for byte the same HTML (core.form_renderer).
FORM_RENDERER = "core.form_renderer.PythonWidgetRenderer"

# --- Database -------------------------------------------------------------------------------------
# DATABASE_URL switches to PostgreSQL (postgres://user:pass@host:5432/name); unset means a SQLite file.
# Connections (docs/operations.md "Connection pooling"): by default each thread keeps its own for
# DATABASE_CONN_MAX_AGE seconds. DATABASE_POOL=1 gives each process a psycopg pool instead (Django's
# OPTIONS["pool"]; needs the psycopg-pool package) of DATABASE_POOL_MIN_SIZE..DATABASE_POOL_MAX_SIZE
# connections, a request waiting up to DATABASE_POOL_TIMEOUT seconds for one. DATABASE_PGBOUNCER=1 says
# DATABASE_URL is a PgBouncer in transaction mode: no server-side cursors (a cursor outlives the
# transaction it was declared in, and the next transaction may run on another server connection).
DATABASE_POOL = env_bool("DATABASE_POOL", False)
DATABASE_PGBOUNCER = env_bool("DATABASE_PGBOUNCER", False)
# PostgreSQL's JIT compiles a statement whose cost estimate passes jit_above_cost. The dashboards' queries
# pass it (index probes costed at their worst) and the compile took seconds for statements that run in
# tens of milliseconds (docs/operations.md "JIT"), so the app's connections turn it off unless
# DATABASE_JIT=1. Sent as a startup option, which PgBouncer refuses: behind it, use
# `ALTER ROLE <app role> SET jit = off` instead.
DATABASE_JIT = env_bool("DATABASE_JIT", False)
_pool_options = {
    "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
    "max_size": env_int("DATABASE_POOL_MAX_SIZE", 4),
    "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
}


def _database(url: str) -> dict:
    config = dj_database_url.parse(
        url,
        # A pool keeps the connections itself: Django refuses persistent connections beside it.
        conn_max_age=0 if DATABASE_POOL else env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    if config["ENGINE"] != "django.db.backends.postgresql":
        return config
    if DATABASE_POOL:
        config.setdefault("OPTIONS", {})["pool"] = dict(_pool_options)
    if DATABASE_PGBOUNCER:
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        # Lets core.compiled prepare the case page's reads on the connection (psycopg prepares only
        # statements sent by server-binding cursors: Django's own cursors never are). Not behind PgBouncer
        # in transaction mode: a prepared statement lives on one server connection.
        config.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
    if not DATABASE_PGBOUNCER and not DATABASE_JIT:
        options = config.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
DATABASE_IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if DATABASE_IS_SQLITE and (DATABASE_POOL or DATABASE_PGBOUNCER):
    raise ImproperlyConfigured("DATABASE_POOL and DATABASE_PGBOUNCER need PostgreSQL (DATABASE_URL).")
# DATABASE_REPLICA_URL: a read-only streaming replica of DATABASE_URL's database. Dashboards, their CSV
# exports and the access report read from it (core.db_routing); they tolerate its lag. Everything else,
# and every write, stays on the primary. Tests mirror "default" instead of creating a database there.
_replica_url = env_str("DATABASE_REPLICA_URL").strip()
DATABASE_READ_REPLICA = "replica" if _replica_url else None
if _replica_url:
    DATABASES["replica"] = {**_database(_replica_url), "TEST": {"MIRROR": "default"}}
    # A replica that does not answer is skipped for a while (core.db_routing): give up on it in seconds,
    # not at the TCP timeout (a connect_timeout in the URL wins).
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    if DATABASE_IS_SQLITE or DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL replica of a PostgreSQL DATABASE_URL (postgres://...)."
        )
DATABASE_ROUTERS = ["core.db_routing.ReplicaRouter"]
if DATABASE_IS_SQLITE:
    # `make run` has the web server, a Celery worker and beat writing one file. SQLite's default
    # DEFERRED transactions take the write lock only at their first write, and a reader that then wants
    # to write while another connection writes fails at once with "database is locked" (waiting could
    # deadlock, so the busy timeout does not apply). IMMEDIATE takes the write lock at BEGIN, where the
    # busy timeout does apply: writers queue instead of failing. WAL lets pages read while a nightly step
    # writes; synchronous=NORMAL is WAL's usual pairing (durable at checkpoints, never corrupt).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,  # seconds a writer waits for the lock before "database is locked"
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Authentication: lockout, the client's address, idle sign-out (README "Sign-in security") ------
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",  # first: refuses a locked-out client before checking a password
    "django.contrib.auth.backends.ModelBackend",
]
# Proxies in front of the app that append to X-Forwarded-For; 0 ignores the header (accounts.client_address).
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0)
# django-axes: LOGIN_FAILURE_LIMIT failures within the lockout time lock a username (from any address)
# and an address (for any username, against password spraying); the lockout lasts LOCKOUT_MINUTES from
# the failure that caused it (0: until an admin deletes the access attempts). DJANGO_LOGIN_LOCKOUT_BY
# lists what is counted: username, ip_address, or a combination such as username+ip_address.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5)
_lockout_minutes = env_int("DJANGO_LOGIN_LOCKOUT_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") if "+" in item else item
    for item in env_list("DJANGO_LOGIN_LOCKOUT_BY", ["username", "ip_address"])
]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # attempts while locked out do not prolong it
AXES_RESET_ON_SUCCESS = False  # a success clears its username's failures only (accounts.signals)
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure kept for the admin pages, beside the lockout counter
AXES_VERBOSE = False  # no banner in every manage.py command's output
# Minutes without a request after which a role is signed out (accounts.middleware.IdleTimeoutMiddleware;
# 0: no idle limit); requests pages make by themselves (the URL names below) are not activity.
IDLE_TIMEOUT_MINUTES = {
    "admin": env_int("DJANGO_IDLE_MINUTES_ADMIN", 15),
    "head": env_int("DJANGO_IDLE_MINUTES_HEAD", 30),
    "supervisor": env_int("DJANGO_IDLE_MINUTES_SUPERVISOR", 30),
    "team_lead": env_int("DJANGO_IDLE_MINUTES_TEAM_LEAD", 30),
    "legal": env_int("DJANGO_IDLE_MINUTES_LEGAL", 30),
    "agent": env_int("DJANGO_IDLE_MINUTES_AGENT", 60),
}
IDLE_TIMEOUT_BACKGROUND_URL_NAMES = {"case_renew_lease"}

# --- Second factor (accounts.two_factor; README "Second factor") ----------------------------------
# An authenticator app code (TOTP) or a recovery code after the password, for these roles, on the pages
# and at the API's token endpoint. On by default with DEBUG off; the laptop demo (DEBUG on) keeps one
# password. DJANGO_TWO_FACTOR_ROLES: a comma-separated list of agent, team_lead, supervisor, head,
# legal, admin. Every role that approves money (team lead and up) has a second factor by default.
_ROLES = ("agent", "team_lead", "supervisor", "head", "legal", "admin")  # accounts.models.Role's values
COLLECTIONS_REQUIRE_2FA = env_bool("DJANGO_REQUIRE_2FA", not DEBUG)
TWO_FACTOR_ROLES = env_list("DJANGO_TWO_FACTOR_ROLES", ["team_lead", "supervisor", "head", "legal", "admin"])
if _unknown_roles := set(TWO_FACTOR_ROLES) - set(_ROLES):
    raise ImproperlyConfigured(
        f"DJANGO_TWO_FACTOR_ROLES names unknown roles {sorted(_unknown_roles)}; use {', '.join(_ROLES)}."
    )
# The name authenticator apps show beside the account: the bank's name if set.
OTP_TOTP_ISSUER = env_str("COLLECTIONS_BANK_NAME") or "Collections"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no secret or QR code in any admin page

# --- Single sign-on (OpenID Connect: mozilla-django-oidc, accounts.oidc; README "Single sign-on") ---
# Off unless OIDC_RP_CLIENT_ID is set; then the provider's endpoints are required, the sign-in page
# shows a "Sign in with OIDC_PROVIDER_NAME" button, and each sign-in takes the role (OIDC_ROLE_GROUPS:
# role=group pairs, comma-separated; the highest role wins) and optionally the team (OIDC_TEAM_CLAIM,
# a team's name) from the provider's claims. OIDC_ONLY=1 closes password sign-in on the sign-in page.
# OIDC_TRUSTS_IDP_MFA=1 lets an ID token whose `amr` says mfa/otp stand for the second factor.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID").strip()
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME")  # empty: "single sign-on", in the reader's language
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_TEAM_CLAIM = env_str("OIDC_TEAM_CLAIM")
OIDC_ONLY = env_bool("OIDC_ONLY", False)
OIDC_TRUSTS_IDP_MFA = env_bool("OIDC_TRUSTS_IDP_MFA", False)
OIDC_ROLE_GROUPS: dict[str, list[str]] = {}
for _pair in env_list("OIDC_ROLE_GROUPS", []):
    _role, _equals, _group = (part.strip() for part in _pair.partition("="))
    if _role not in _ROLES or not _group:
        raise ImproperlyConfigured(
            f"OIDC_ROLE_GROUPS: {_pair!r} is not role=group with a role among {', '.join(_ROLES)} "
            "(e.g. admin=collections-admins,agent=collections-agents)."
        )
    OIDC_ROLE_GROUPS.setdefault(_role, []).append(_group)
# Read at request time (accounts.oidc.oidc_enabled): the /oidc/ pages answer 404 while it is off.
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
if OIDC_ENABLED:
    _oidc_required = [
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    ]
    if _oidc_missing := [name for name in _oidc_required if not globals()[name].strip()]:
        raise ImproperlyConfigured(f"OIDC_RP_CLIENT_ID is set: single sign-on also needs {_oidc_missing}.")
    if not OIDC_ROLE_GROUPS:
        raise ImproperlyConfigured("OIDC_RP_CLIENT_ID is set: OIDC_ROLE_GROUPS must map a group to a role.")
    # After the password backend, so that test clients' force_login() keeps choosing ModelBackend.
    AUTHENTICATION_BACKENDS.append("accounts.oidc.OIDCBackend")
elif OIDC_ONLY:
    raise ImproperlyConfigured("OIDC_ONLY is set but single sign-on is not (OIDC_RP_CLIENT_ID).")
# mozilla-django-oidc's own settings: our views (404 while off, refusals on the sign-in page), a time
# limit on every call to the provider.
OIDC_AUTHENTICATE_CLASS = "accounts.oidc.AuthenticateView"
OIDC_CALLBACK_CLASS = "accounts.oidc.CallbackView"
OIDC_TIMEOUT = 10

# --- Languages and time ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and time format per language (config/formats/<locale>/formats.py); templates name them.
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True
# Stored in UTC; shown in the viewer's zone (User.time_zone); this is the fallback for anonymous pages.
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "Asia/Shanghai")

# --- Static files (served by the app through WhiteNoise: bank intranets have no CDN) -------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed file names in production (needs `collectstatic`); plain files on a laptop and in tests.
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Security (production values unless DEBUG) ----------------------------------------------------
# TLS ends at the bank's reverse proxy, which sets X-Forwarded-Proto. Trusting the header is safe only
# because nothing reaches the app except through that proxy (compose binds gunicorn to loopback).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
# Off by default: on a bank intranet domain, other subdomains may still be served over plain http.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): every script and style is a file under static/; no inline code,
# no eval, no other origin. Pages may not be framed ('none'), except a view that allows same-origin
# framing (accounts.middleware.ContentSecurityPolicyMiddleware: the escalation rule preview).
# Cache-Control: no-store and the Permissions-Policy come from accounts.middleware.PrivateResponseMiddleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_SECONDS", 10 * 60 * 60)  # one working day
# Preload and include-subdomains are decisions for the bank's domain owner, not defaults (see above).
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
]

# --- Celery -----------------------------------------------------------------------------------------
# REDIS_URL switches to Redis; unset means kombu's filesystem transport under var/, which needs no
# server, so that worker and beat really run on a laptop.
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 2 * 60 * 60}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if DATABASE_IS_SQLITE:
    # One task at a time: a second worker process would only queue for SQLite's single write lock.
    CELERY_WORKER_CONCURRENCY = 1
# One queue per kind of work, so that a long night never delays a reminder or today's dashboard rollup
# (docs/automation.md "Processes and queues"): `nightly` (the pipeline and other batch jobs, long, one
# at a time), `messages` (sending, many short tasks), `rollups` (the dashboards' rollups), `default`
# (the rest). CELERY_TASK_ROUTES below says which task goes where. A worker started without -Q consumes
# every queue declared here (`make run`'s, the compose file's for a small site); bigger sites run one
# worker per queue, on as many machines as they like.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [
    # Exchange and routing key named after the queue: what Celery makes for a queue it creates on the fly.
    Queue(name, Exchange(name), routing_key=name)
    for name in ("default", "nightly", "messages", "rollups")
]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- REST framework -----------------------------------------------------------------------------
# Project-wide API conventions: every DRF view, including those an app mounts under /api/v1/ itself
# (automation's nightly runs), authenticates, paginates and answers errors the same way.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",  # token first: anonymous gets 401, not 403
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiCursorPagination",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    # JSON with a depth and size limit (api.parsers): a deeply nested body is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32)
API_JSON_MAX_BYTES = env_int("API_JSON_MAX_BYTES", 20 * 1024 * 1024)  # JSON import rows included
# The schema's title, hooks, enum names and the locally served Swagger UI (no CDN).
from api.spectacular_settings import SPECTACULAR_SETTINGS  # noqa: E402, F401

REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "user": env_str("API_THROTTLE_USER", "1200/min"),
    "auth": env_str("API_THROTTLE_AUTH", "20/min"),
    "imports": env_str("API_THROTTLE_IMPORTS", "60/hour"),
}
# API tokens (django-rest-knox): stored hashed, expire after a working day, revocable by admins.
REST_KNOX = {"TOKEN_TTL": timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 10)), "TOKEN_LIMIT_PER_USER": None}
API_IDEMPOTENCY_KEY_HOURS = env_int("API_IDEMPOTENCY_KEY_HOURS", 24)
if REDIS_URL:  # throttle counters shared by every web process
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Logging: to the console; never personal data (masking happens before anything is logged) ---
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # pgtrigger says "Installing ... trigger" for each of the history's triggers at every migrate.
    "loggers": {"pgtrigger": {"level": "WARNING"}},
}

# --- The collections domain (see README "Configuration") ----------------------------------------
# Upper DPD bound of M1..M6; beyond the last is M6+. Charge-off is considered at COLLECTIONS_CHARGE_OFF_DPD.
COLLECTIONS_BUCKET_BOUNDARIES = [
    int(x) for x in env_list("COLLECTIONS_BUCKET_BOUNDARIES", ["30", "60", "90", "120", "150", "180"])
]
COLLECTIONS_CHARGE_OFF_DPD = env_int("COLLECTIONS_CHARGE_OFF_DPD", 180)
# Order in which a payment pays down the balance components.
COLLECTIONS_ALLOCATION_ORDER = env_list(
    "COLLECTIONS_ALLOCATION_ORDER", ["penalties", "fees", "interest", "principal"]
)
COLLECTIONS_DEFAULT_CURRENCY = env_str("COLLECTIONS_DEFAULT_CURRENCY", "CNY")
COLLECTIONS_PROMISE_HORIZON_DAYS = env_int("COLLECTIONS_PROMISE_HORIZON_DAYS", 30)
COLLECTIONS_PROMISE_GRACE_DAYS = env_int("COLLECTIONS_PROMISE_GRACE_DAYS", 1)
# Days an installment may stay short after its due date before the plan is broken.
COLLECTIONS_PLAN_GRACE_DAYS = env_int("COLLECTIONS_PLAN_GRACE_DAYS", 3)
COLLECTIONS_LEASE_MINUTES = env_int("COLLECTIONS_LEASE_MINUTES", 15)
# How far ahead a callback may be scheduled (a callback hides the case from every queue until then),
# and the longest note on a case's timeline, in characters.
COLLECTIONS_CALLBACK_HORIZON_DAYS = env_int("COLLECTIONS_CALLBACK_HORIZON_DAYS", 90)
COLLECTIONS_NOTE_MAX_LENGTH = env_int("COLLECTIONS_NOTE_MAX_LENGTH", 4000)
# Legal review (legal.services): the limitation period in years (restarted by each proven demand
# or payment) and the principal above which a malicious-overdraft referral may be considered.
COLLECTIONS_LIMITATION_YEARS = env_int("COLLECTIONS_LIMITATION_YEARS", 3)
COLLECTIONS_MALICIOUS_OVERDRAFT_THRESHOLD = Decimal(
    env_str("COLLECTIONS_MALICIOUS_OVERDRAFT_THRESHOLD", "50000.00")
)

# --- Automation (docs/automation.md) ------------------------------------------------------------
# Which queue each task waits in (CELERY_TASK_QUEUES above); a task not named here goes to `default`
# (the five-minute contact-window roll, the idempotency-key purge). tests/config/test_celery_queues.py
# names the queue of every task.
CELERY_TASK_ROUTES = {
    "automation.tasks.nightly_*": {"queue": "nightly"},
    # The weekly personal-data purge is a batch job like the nightly steps: it waits behind them, never
    # in front of the every-minute sends.
    "privacy.tasks.*": {"queue": "nightly"},
    "automation.tasks.message*": {"queue": "messages"},
    # The supervisors' morning e-mail: composed and sent like a reminder, retried the same way.
    "dashboards.tasks.daily_summar*": {"queue": "messages"},
    # Today's rollup every few minutes and a backfill: never behind a nightly step that takes an hour.
    "dashboards.tasks.rollups_*": {"queue": "rollups"},
}
COLLECTIONS_NIGHTLY_AT = env_str("COLLECTIONS_NIGHTLY_AT", "01:30")
COLLECTIONS_NIGHTLY_STALE_SECONDS = env_int("COLLECTIONS_NIGHTLY_STALE_SECONDS", 300)
COLLECTIONS_NIGHTLY_MAX_ATTEMPTS = env_int("COLLECTIONS_NIGHTLY_MAX_ATTEMPTS", 3)
COLLECTIONS_REMINDER_SEND_AT = env_str("COLLECTIONS_REMINDER_SEND_AT", "09:00")
COLLECTIONS_REMINDER_BEFORE_DUE_DAYS = env_int("COLLECTIONS_REMINDER_BEFORE_DUE_DAYS", 3)
COLLECTIONS_OVERDUE_NOTICE_DPD = [
    int(x) for x in env_list("COLLECTIONS_OVERDUE_NOTICE_DPD", ["1", "7", "15", "30", "60", "90"])
]
COLLECTIONS_MESSAGE_MAX_ATTEMPTS = env_int("COLLECTIONS_MESSAGE_MAX_ATTEMPTS", 5)
COLLECTIONS_MESSAGE_RETRY_SECONDS = env_int("COLLECTIONS_MESSAGE_RETRY_SECONDS", 60)
COLLECTIONS_OUTBOX_DIR = env_str("COLLECTIONS_OUTBOX_DIR", str(VAR_DIR / "outbox"))
COLLECTIONS_SMS_PROVIDER = env_str("COLLECTIONS_SMS_PROVIDER", "file")
COLLECTIONS_EMAIL_PROVIDER = env_str("COLLECTIONS_EMAIL_PROVIDER", "file")
COLLECTIONS_LETTER_PROVIDER = env_str("COLLECTIONS_LETTER_PROVIDER", "file")
# The file provider only writes to the outbox ("written", never "sent"). With DEBUG off the app refuses to
# start while SMS or e-mail goes there (messaging.checks), unless this says that is intended (a demo).
COLLECTIONS_ALLOW_FILE_DELIVERY = env_bool("COLLECTIONS_ALLOW_FILE_DELIVERY", False)
COLLECTIONS_SMS_GATEWAY_URL = env_str("COLLECTIONS_SMS_GATEWAY_URL", "")
COLLECTIONS_SMS_GATEWAY_TOKEN = env_str("COLLECTIONS_SMS_GATEWAY_TOKEN", "")
COLLECTIONS_SMS_GATEWAY_USER = env_str("COLLECTIONS_SMS_GATEWAY_USER", "")
COLLECTIONS_SMS_GATEWAY_PASSWORD = env_str("COLLECTIONS_SMS_GATEWAY_PASSWORD", "")
COLLECTIONS_SMS_GATEWAY_TIMEOUT = env_int("COLLECTIONS_SMS_GATEWAY_TIMEOUT", 10)
COLLECTIONS_EMAIL_FROM = env_str("COLLECTIONS_EMAIL_FROM", "")  # empty: DEFAULT_FROM_EMAIL

# --- Click-to-call (telephony; README "Click-to-call") ---------------------------------------------
# "link": the browser opens a tel: (or sip:) link; "pbx": the PBX's HTTP click-to-call endpoint rings the
# agent's extension (telephony.AgentExtension) and then the cardholder, and reports the call to
# TELEPHONY_CALLBACK_URL (our /telephony/events/) signed with TELEPHONY_CALLBACK_SECRET.
TELEPHONY_DIALER = env_str("TELEPHONY_DIALER", "link")
TELEPHONY_LINK_SCHEME = env_str("TELEPHONY_LINK_SCHEME", "tel")
TELEPHONY_SIP_DOMAIN = env_str("TELEPHONY_SIP_DOMAIN", "")
TELEPHONY_PBX_URL = env_str("TELEPHONY_PBX_URL", "")
TELEPHONY_PBX_TOKEN = env_str("TELEPHONY_PBX_TOKEN", "")
TELEPHONY_PBX_TIMEOUT = env_int("TELEPHONY_PBX_TIMEOUT", 5)
TELEPHONY_CALLBACK_URL = env_str("TELEPHONY_CALLBACK_URL", "")
TELEPHONY_CALLBACK_SECRET = env_str("TELEPHONY_CALLBACK_SECRET", "")
TELEPHONY_CALLBACK_MAX_AGE_SECONDS = env_int("TELEPHONY_CALLBACK_MAX_AGE_SECONDS", 300)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
COLLECTIONS_BANK_NAME = env_str("COLLECTIONS_BANK_NAME", "")
COLLECTIONS_BANK_CONTACT = env_str("COLLECTIONS_BANK_CONTACT", "")
# Messaging settings with no environment variable (change them here, or in a settings module of your own).
COLLECTIONS_REMINDER_CHANNELS: dict[str, list[str]] = {}  # purpose -> channels; empty: messaging's defaults
COLLECTIONS_PROMISE_REMINDER_DAYS_BEFORE = env_int("COLLECTIONS_PROMISE_REMINDER_DAYS_BEFORE", 1)
COLLECTIONS_INSTALLMENT_REMINDER_DAYS_BEFORE = env_int("COLLECTIONS_INSTALLMENT_REMINDER_DAYS_BEFORE", 3)
COLLECTIONS_REMINDER_LOOKBACK_DAYS = env_int("COLLECTIONS_REMINDER_LOOKBACK_DAYS", 7)
COLLECTIONS_BANK_TEXTS: dict[str, dict[str, str]] = {}  # language -> {placeholder: text}
COLLECTIONS_EMAIL_BACKEND = env_str("COLLECTIONS_EMAIL_BACKEND", "")  # empty: EMAIL_BACKEND
COLLECTIONS_EMAIL_DOMAIN = env_str("COLLECTIONS_EMAIL_DOMAIN", "collections.invalid")
DASHBOARDS_INTRADAY_MAX_AGE_MINUTES = env_int("DASHBOARDS_INTRADAY_MAX_AGE_MINUTES", 15)
# The access report (dashboards.access_report) flags a person's day when the distinct cardholders they
# looked at exceed this number, or this factor times their own median day of the 30 days before.
ACCESS_DAILY_CARDHOLDERS_LIMIT = env_int("ACCESS_DAILY_CARDHOLDERS_LIMIT", 50)
ACCESS_MEDIAN_FACTOR = env_int("ACCESS_MEDIAN_FACTOR", 3)
# Key of the keyed hashes (HMAC-SHA256) by which the admin finds a national ID or a phone number without
# it ever being in a URL (collections_app.models.pii_hash). Default: derived from SECRET_KEY; changing
# either means running `manage.py pii_hash_refresh`.
PII_HASH_KEY = env_str("DJANGO_PII_HASH_KEY") or f"pii-hash:{SECRET_KEY}"

# --- History of changes (the history app, django-pghistory; README "History of changes") -------------
# The triggers that record every change are installed by `migrate` (after the migrations), not written
# as migrations of the tracked apps: those apps do not know they are tracked, and a fresh database, the
# test database and production all get them from the same `migrate`.
PGTRIGGER_MIGRATIONS = False
PGTRIGGER_INSTALL_ON_MIGRATE = True
# The event tables copy the tracked models' foreign keys without their indexes (history.tracking adds the
# few the history's pages need).
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
# The middleware attaches the context (actor, source, request id) to the requests that change things. A
# GET changes nothing tracked (the case page's lease renewal writes only columns history leaves out), and
# leaving it out keeps the pages' SQL as it is (pghistory's default includes GET).
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Fernet keys, comma-separated, newest first, that encrypt national IDs and card numbers at rest
# (core.crypto; docs/operations.md "Encryption keys"). The first encrypts, any decrypts. Empty: a key
# derived from SECRET_KEY, which only DEBUG accepts (core.checks refuses to start without keys).
PII_ENCRYPTION_KEYS = env_list("PII_ENCRYPTION_KEYS", [])
