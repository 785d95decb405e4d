"""heysh settings: every value comes from the environment, read once through `Env`.

With no environment at all the platform runs embedded on one machine: SQLite and
files under ``var/``, a Celery broker in a SQLite file, and the embedded graph and
vector backends (everything in the relational database). ``DATABASE_URL`` and
``REDIS_URL`` switch to PostgreSQL and Redis; the backend variables below switch the
projections to Neo4j, Weaviate and S3. README.md lists every variable.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from botocore.config import Config as BotocoreConfig
from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static as _static

from heysh.env import Env
from heysh.vault import environ_with_vault_secrets

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env(environ_with_vault_secrets())

ENVIRONMENT = env.choice(
    "HEYSH_ENVIRONMENT", ["development", "production"], "development",
    help="`production` requires a secret key, allowed hosts and HTTPS settings.",
)
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env.bool("HEYSH_DEBUG", False, help="Django debug mode; never in production.")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("HEYSH_DEBUG cannot be on when HEYSH_ENVIRONMENT=production.")

VAR_DIR = Path(env.str("HEYSH_VAR_DIR", str(BASE_DIR / "var"), help="Where the embedded default keeps its database, files and broker."))


def _embedded_secret_key() -> str:
    """A per-installation key kept in var/, so `make run` needs no configuration."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.secret("HEYSH_SECRET_KEY", help="Django secret key (required in production).")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("HEYSH_SECRET_KEY must be set when HEYSH_ENVIRONMENT=production.")
    SECRET_KEY = _embedded_secret_key()

ALLOWED_HOSTS = env.list(
    "HEYSH_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"],
    help="Host names the site answers to (comma separated).",
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("HEYSH_ALLOWED_HOSTS must be set when HEYSH_ENVIRONMENT=production.")
CSRF_TRUSTED_ORIGINS = env.list("HEYSH_CSRF_TRUSTED_ORIGINS", help="Origins trusted for admin form posts, e.g. https://heysh.example.com.")
CORS_ALLOWED_ORIGINS = env.list("HEYSH_CORS_ALLOWED_ORIGINS", help="Frontend origins allowed to call the API from a browser.")

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs/ works offline
    "corsheaders",
    "django_celery_beat",
    "django_prometheus",
    "simple_history",
    "apps.core",
    "apps.domains",
    "apps.documents",
    "apps.search",
    "apps.bootstrap",
    "apps.cms",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.ForwardedProtoMiddleware",  # before SecurityMiddleware reads the scheme
    "apps.core.middleware.RefuseNulBytesMiddleware",
    "apps.core.middleware.ApiTrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY below
    "apps.core.middleware.HistoryRequestMiddleware",  # simple_history's, safe for API-key principals
    # Turns a lockout that django-axes recorded during authenticate() into its answer.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "heysh.urls"
WSGI_APPLICATION = "heysh.wsgi.application"
ASGI_APPLICATION = "heysh.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "heysh" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASE_URL = env.url(
    "DATABASE_URL", ("postgres", "postgresql", "sqlite"),
    help="PostgreSQL URL, e.g. postgres://heysh:pw@db:5432/heysh. Unset: SQLite in var/.",
)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "heysh.sqlite3"}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends."
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USING_POSTGRES = "postgresql" in DATABASES["default"]["ENGINE"]

# --- Redis: broker, cache, locks -----------------------------------------------
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss"), help="Redis/Dragonfly URL for broker, cache and locks. Unset: embedded broker and local cache.")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("HEYSH_CACHE_PREFIX", "heysh", help="Prefix of every cache key (share one Redis between installs)."),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            # File based, not locmem: throttling must be shared by web and worker processes.
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str(
    "HEYSH_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}",
    help="Celery broker URL; defaults to REDIS_URL, else a SQLite file in var/.",
)
CELERY_TASK_ALWAYS_EAGER = env.bool("HEYSH_TASKS_EAGER", False, help="Run tasks in-process (tests, debugging).")
CELERY_TASK_EAGER_PROPAGATES = True
STEP_MAX_ATTEMPTS = env.int("HEYSH_STEP_MAX_ATTEMPTS", 4, min_value=1, max_value=50, help="Attempts per pipeline step before the document fails.")
STEP_LEASE_SECONDS = env.int("HEYSH_STEP_LEASE_SECONDS", 120, min_value=5, help="A claimed step's lease; a heartbeat extends it, expiry lets the sweep re-enqueue it.")
SWEEP_INTERVAL_SECONDS = env.int("HEYSH_SWEEP_INTERVAL_SECONDS", 30, min_value=1, help="How often beat runs the recovery sweep.")
STEP_BACKOFF_SECONDS = env.int("HEYSH_STEP_BACKOFF_SECONDS", 5, min_value=0, help="First retry delay of a failed step; doubles per attempt (capped at 10 minutes).")
STEP_REQUEUE_AFTER_SECONDS = env.int("HEYSH_STEP_REQUEUE_AFTER_SECONDS", 300, min_value=1, help="A queued step not picked up for this long is re-sent by the sweep (the broker lost it).")
INDEX_BATCH_DOCUMENTS = env.int("HEYSH_INDEX_BATCH_DOCUMENTS", 256, min_value=1, max_value=1000, help="Queued documents one indexing task embeds together (one model pass for many short documents).")
INDEX_BATCH_CHUNKS = env.int("HEYSH_INDEX_BATCH_CHUNKS", 512, min_value=1, max_value=100000, help="Chunks an indexing task embeds at most when it takes further queued documents along (the documents its message names always run): long documents make smaller batches, which stay well inside the time limit.")
STEP_BATCH_DOCUMENTS = env.int("HEYSH_STEP_BATCH_DOCUMENTS", 32, min_value=1, max_value=1000, help="Queued documents one extraction, graph or notification task processes together (1: one at a time).")
WORKER_CONCURRENCY = env.int("HEYSH_WORKER_CONCURRENCY", 2, min_value=1, help="Processes per Celery worker.")

# --- Auth and API ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes sees every authenticate() call first (admin login, the JWT token endpoint) and
# refuses a (username, client address) pair that failed too often. https://django-axes.readthedocs.io/
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("HEYSH_LOGIN_FAILURE_LIMIT", 5, min_value=1, max_value=1000, help="Failed logins (admin or token endpoint) of one username from one address before it is locked out.")
AXES_COOLOFF_TIME = timedelta(minutes=env.int("HEYSH_LOGIN_LOCKOUT_MINUTES", 15, min_value=1, help="How long a locked-out (username, address) pair waits before it may try again."))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.client_address.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.domains.lockout.lockout_response"
AXES_VERBOSE = False
# Reverse proxies whose X-Forwarded-For is believed (apps.core.client_address): the client
# address of throttles and lockout. Empty: the header is ignored, REMOTE_ADDR is the client.
_trusted_proxies = env.list("HEYSH_TRUSTED_PROXIES", help="Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are trusted, e.g. 172.16.0.0/12 (unset: both headers are ignored).")
try:
    TRUSTED_PROXIES = [str(ipaddress.ip_network(entry, strict=False)) for entry in _trusted_proxies]
except ValueError as exc:
    raise ImproperlyConfigured(f"HEYSH_TRUSTED_PROXIES: {exc}") from None

# /metrics shows every tenant's slug and counts: Prometheus sends this token as a bearer token
# (compose/prometheus/prometheus.yml, deploy/k8s ServiceMonitor). Unset: /metrics is open in
# development and closed (403) in production.
METRICS_TOKEN = env.secret("HEYSH_METRICS_TOKEN", help="Bearer token Prometheus must send to scrape the api's /metrics (unset: open in development, refused in production).")

THROTTLE_ANON = env.str("HEYSH_THROTTLE_ANON", "60/min", help="Request rate for anonymous callers (DRF rate syntax).")
THROTTLE_USER = env.str("HEYSH_THROTTLE_USER", "1200/min", help="Request rate per user or API key.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "apps.domains.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.domains.throttling.AnonRateThrottle",
        "apps.domains.throttling.PrincipalRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": THROTTLE_ANON, "principal": THROTTLE_USER},
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.BoundedLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "apps.core.parsers.BoundedMultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.openapi.HeyshAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("HEYSH_JWT_ACCESS_MINUTES", 15, min_value=1, help="JWT access token lifetime.")),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("HEYSH_JWT_REFRESH_DAYS", 7, min_value=1, help="JWT refresh token lifetime.")),
    # A refresh token is good once (apps.domains.tokens); a password change revokes every token.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_OBTAIN_SERIALIZER": "apps.domains.tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "apps.domains.tokens.TokenRefreshSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "heysh API",
    "DESCRIPTION": "Knowledge domains, documents, processing runs, hybrid search and the knowledge graph.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.openapi.refuse_nul_in_request_strings",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MembershipRoleEnum": "apps.domains.models.Membership.Role",
        "ApiKeyRoleEnum": "apps.domains.models.ApiKey.Role",
        "DomainStatusEnum": "apps.domains.models.Domain.Status",
        "DocumentStatusEnum": "apps.documents.models.DocumentStatus",
        "RunStatusEnum": "apps.documents.models.ProcessingRun.Status",
        "EntityTypeEnum": "apps.search.models.EntityType",
    },
}

# --- Files ----------------------------------------------------------------------
MAX_UPLOAD_MB = env.int("HEYSH_MAX_UPLOAD_MB", 50, min_value=1, max_value=2048, help="Largest accepted document, in MB.")
# Document intake and analysis (docs/documents.md).
FETCH_TIMEOUT_SECONDS = env.int("HEYSH_FETCH_TIMEOUT_SECONDS", 20, min_value=1, max_value=300, help="Timeout of one URL fetch for URL documents.")
FETCH_ALLOW_PRIVATE = env.bool(
    "HEYSH_FETCH_ALLOW_PRIVATE", False,
    help="Let URL documents be fetched from private, loopback and link-local addresses (tests only; never in production).",
)
PARSER_TIMEOUT_SECONDS = env.int("HEYSH_PARSER_TIMEOUT_SECONDS", 90, min_value=1, help="Wall-clock limit of one PDF/DOCX/HTML parse (sandboxed subprocess).")
PARSER_MEMORY_MB = env.int("HEYSH_PARSER_MEMORY_MB", 1024, min_value=128, help="Address-space limit of the parser subprocess, in MB.")
CHUNK_CHARS = env.int("HEYSH_CHUNK_CHARS", 1000, min_value=100, max_value=20000, help="Target chunk length in characters.")
CHUNK_OVERLAP_CHARS = env.int("HEYSH_CHUNK_OVERLAP_CHARS", 150, min_value=0, max_value=5000, help="Characters shared by consecutive chunks.")
# A request body may be as large as the largest document (pasted text is read into memory);
# intake itself answers 413 past MAX_UPLOAD_MB, and a larger body gets 413 from handler400.
DATA_UPLOAD_MAX_MEMORY_SIZE = (MAX_UPLOAD_MB + 1) * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request when it is missing
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
S3_BUCKET = env.str("HEYSH_S3_BUCKET", help="Bucket for document originals; set to store files in S3/MinIO.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "documents": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT / "documents")},
    },
}
if S3_BUCKET:
    STORAGES["documents"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env.str("HEYSH_S3_ENDPOINT_URL", help="S3 endpoint, e.g. http://minio:9000 (unset: AWS)."),
            "access_key": env.secret("HEYSH_S3_ACCESS_KEY", help="S3 access key id."),
            "secret_key": env.secret("HEYSH_S3_SECRET_KEY", help="S3 secret access key."),
            "region_name": env.str("HEYSH_S3_REGION", "us-east-1", help="S3 region."),
            "addressing_style": "path",
            "signature_version": "s3v4",
            "querystring_expire": env.int("HEYSH_S3_URL_EXPIRE_SECONDS", 300, min_value=10, help="Lifetime of presigned download URLs."),
            "file_overwrite": False,
            "default_acl": None,
            # boto3 >= 1.36 sends CRC checksums by default, which MinIO and other S3-compatible servers
            # may reject: only checksum when the operation requires it. This Config wins over the two keys above.
            # https://docs.aws.amazon.com/sdkref/latest/guide/feature-dataintegrity.html
            "client_config": BotocoreConfig(
                s3={"addressing_style": "path"}, signature_version="s3v4",
                request_checksum_calculation="when_required", response_checksum_validation="when_required",
                connect_timeout=5, read_timeout=60, retries={"max_attempts": 4, "mode": "standard"},
            ),
        },
    }
# SigV4 signs the Host header, so a URL signed for the internal endpoint (http://minio:9000)
# cannot be fetched by a browser through a proxy: sign downloads for the public address instead.
S3_PUBLIC_ENDPOINT_URL = env.url("HEYSH_S3_PUBLIC_ENDPOINT_URL", ("http", "https"), help="Public S3 endpoint that presigned download URLs are signed for (e.g. https://files.example.com, routed by Caddy to MinIO); unset: the S3 endpoint itself.")
S3_CREATE_BUCKET = env.bool("HEYSH_S3_CREATE_BUCKET", False, help="Create the documents bucket after migrate when it is missing (MinIO/dev).")

# --- Pluggable backends (DESIGN §5). Built lazily by apps.core.backends. ----------
EMBEDDER = env.choice("HEYSH_EMBEDDER", ["local", "torch", "openai", "hashing"], "local", help="`local` all-MiniLM-L6-v2 on CPU through ONNX Runtime; `torch` the same model through sentence-transformers/torch; `openai` an OpenAI-compatible endpoint; `hashing` a deterministic test embedder.")
LLM_BASE_URL = env.url("HEYSH_LLM_BASE_URL", ("http", "https"), help="OpenAI-compatible API base URL, e.g. http://ollama:11434/v1.")
LLM_API_KEY = env.secret("HEYSH_LLM_API_KEY", help="API key for the OpenAI-compatible endpoint.")
LLM_MODEL = env.str("HEYSH_LLM_MODEL", "gpt-4o-mini", help="Chat model used by the LLM extractor and content generation.")
LLM_EMBEDDING_MODEL = env.str("HEYSH_LLM_EMBEDDING_MODEL", "text-embedding-3-small", help="Embedding model name for HEYSH_EMBEDDER=openai.")
# 16: short batches pad least (on Cranfield chunks 10% faster than 64 on the CPU).
EMBED_BATCH_SIZE = env.int("HEYSH_EMBED_BATCH_SIZE", 16, min_value=1, help="Chunks per model batch of the local embedder.")
EMBEDDERS = {
    "local": {
        "BACKEND": "apps.search.backends.embeddings.onnx.OnnxEmbedder",
        "OPTIONS": {
            "batch_size": EMBED_BATCH_SIZE,
            "cache_dir": env.str("HEYSH_MODEL_CACHE_DIR", str(VAR_DIR / "models"), help="Where the local embedder keeps its ONNX export of the packaged model (exported once, on first use)."),
            "onnx_path": env.str("HEYSH_EMBED_ONNX_PATH", help="An already exported ONNX file of all-MiniLM-L6-v2 to run instead of exporting one into HEYSH_MODEL_CACHE_DIR."),
            "threads": env.int("HEYSH_EMBED_THREADS", 0, min_value=0, max_value=256, help="Threads ONNX Runtime uses per embedding call (0: one per core the process may use, at most 4); its idle threads never spin."),
        },
    },
    "torch": {
        "BACKEND": "apps.search.backends.embeddings.local.SentenceTransformerEmbedder",
        "OPTIONS": {"batch_size": EMBED_BATCH_SIZE},
    },
    "openai": {
        "BACKEND": "apps.search.backends.embeddings.openai.OpenAICompatibleEmbedder",
        "OPTIONS": {"base_url": LLM_BASE_URL, "api_key": LLM_API_KEY, "model": LLM_EMBEDDING_MODEL},
    },
    "hashing": {"BACKEND": "apps.search.backends.embeddings.hashing.HashingEmbedder", "OPTIONS": {"dimension": 384}},
}
EMBEDDERS["default"] = EMBEDDERS[EMBEDDER]

EXTRACTOR = env.choice("HEYSH_EXTRACTOR", ["spacy", "rules", "llm"], "spacy", help="`spacy` offline NER and dependency relations (en_core_web_sm); `rules` offline patterns only; `llm` the OpenAI-compatible endpoint.")
EXTRACTORS = {
    "spacy": {"BACKEND": "apps.search.backends.extractors.spacy.SpacyExtractor", "OPTIONS": {}},
    "rules": {"BACKEND": "apps.search.backends.extractors.rules.RuleExtractor", "OPTIONS": {}},
    "llm": {
        "BACKEND": "apps.search.backends.extractors.llm.OpenAICompatibleExtractor",
        "OPTIONS": {"base_url": LLM_BASE_URL, "api_key": LLM_API_KEY, "model": LLM_MODEL},
    },
}
EXTRACTORS["default"] = EXTRACTORS[EXTRACTOR]

NEO4J_URI = env.url("NEO4J_URI", ("bolt", "neo4j", "bolt+s", "neo4j+s"), help="Neo4j URI; set to project the graph into Neo4j.")
GRAPH_STORES = {"default": {"BACKEND": "apps.search.backends.graph.embedded.EmbeddedGraphStore", "OPTIONS": {}}}
if NEO4J_URI:
    GRAPH_STORES["default"] = {
        "BACKEND": "apps.search.backends.graph.neo4j.Neo4jGraphStore",
        "OPTIONS": {
            "uri": NEO4J_URI,
            "user": env.str("NEO4J_USER", "neo4j", help="Neo4j user."),
            "password": env.secret("NEO4J_PASSWORD", help="Neo4j password."),
            "database": env.str("NEO4J_DATABASE", "neo4j", help="Neo4j database name."),
        },
    }

WEAVIATE_URL = env.url("WEAVIATE_URL", ("http", "https"), help="Weaviate HTTP URL; set to index vectors in Weaviate.")
VECTOR_STORES = {"default": {"BACKEND": "apps.search.backends.vectors.embedded.EmbeddedVectorStore", "OPTIONS": {}}}
if WEAVIATE_URL:
    VECTOR_STORES["default"] = {
        "BACKEND": "apps.search.backends.vectors.weaviate.WeaviateVectorStore",
        "OPTIONS": {
            "url": WEAVIATE_URL,
            "grpc_port": env.int("WEAVIATE_GRPC_PORT", 50051, min_value=1, max_value=65535, help="Weaviate gRPC port."),
            "api_key": env.secret("WEAVIATE_API_KEY", help="Weaviate API key."),
            "collection": env.str("WEAVIATE_COLLECTION", "HeyshChunk", help="Weaviate collection for chunks."),
        },
    }

PROJECTION_RECONCILE_INTERVAL_SECONDS = env.int("HEYSH_RECONCILE_INTERVAL_SECONDS", 900, min_value=30, help="How often beat reconciles Neo4j/Weaviate with the database (initial schedule row).")
PROJECTION_RECONCILE_BATCH = env.int("HEYSH_RECONCILE_BATCH", 200, min_value=1, help="Most document versions one reconcile run repairs per domain and projection.")
# The embedded default's persistent search engines (apps/search/engines): derived data, rebuilt
# from the database by rebuild_projections / the beat reconcile.
SEARCH_INDEX_DIR = Path(env.str("HEYSH_SEARCH_INDEX_DIR", str(VAR_DIR / "search"), help="Where the embedded search engines keep their index files (the tantivy keyword index, the faiss vector index); shared by every process on the host."))
# The vector engine (apps/search/engines/vectors.py, faiss): HNSW from this many vectors in a
# domain, exact search below. https://github.com/facebookresearch/faiss/wiki/Guidelines-to-choose-an-index
SEARCH_ANN_MIN_VECTORS = env.int("HEYSH_SEARCH_ANN_MIN_VECTORS", 20000, min_value=1, help="A domain's vector index is HNSW (approximate) from this many vectors, exact (a flat scan) below.")
SEARCH_ANN_M = env.int("HEYSH_SEARCH_ANN_M", 32, min_value=4, max_value=128, help="HNSW: neighbours per node (faiss IndexHNSWFlat M).")
SEARCH_ANN_EF_CONSTRUCTION = env.int("HEYSH_SEARCH_ANN_EF_CONSTRUCTION", 40, min_value=8, help="HNSW: candidate list while building (efConstruction).")
SEARCH_ANN_EF_SEARCH = env.int("HEYSH_SEARCH_ANN_EF_SEARCH", 128, min_value=8, help="HNSW: candidate list while searching (efSearch; at least k). Higher: better recall, slower.")
SEARCH_INDEX_LOCK_TIMEOUT = env.float("HEYSH_SEARCH_INDEX_LOCK_TIMEOUT", 60.0, min_value=0.0, help="Seconds an index writer waits for another process's writer lock before the step fails (and is retried).")
SEARCH_RRF_K = env.int("HEYSH_SEARCH_RRF_K", 60, min_value=1, help="Reciprocal-rank fusion constant.")
SEARCH_VECTOR_WEIGHT = env.float("HEYSH_SEARCH_VECTOR_WEIGHT", 1.0, min_value=0.0, help="Fusion weight of the vector channel.")
SEARCH_KEYWORD_WEIGHT = env.float("HEYSH_SEARCH_KEYWORD_WEIGHT", 1.0, min_value=0.0, help="Fusion weight of the keyword channel.")
SEARCH_FUSION = env.choice("HEYSH_SEARCH_FUSION", ["convex", "rrf"], "convex", help="Hybrid fusion: min-max normalized score sum (convex) or reciprocal-rank fusion (rrf).")
SEARCH_KEYWORD_FEEDBACK_DOCS = env.int("HEYSH_SEARCH_KEYWORD_FEEDBACK_DOCS", 10, min_value=0, max_value=100, help="BM25 pseudo-relevance feedback (RM3): top chunks read for expansion terms; 0 turns it off.")
SEARCH_KEYWORD_FEEDBACK_TERMS = env.int("HEYSH_SEARCH_KEYWORD_FEEDBACK_TERMS", 10, min_value=1, max_value=100, help="RM3: expansion terms added to the keyword query.")
SEARCH_KEYWORD_FEEDBACK_WEIGHT = env.float("HEYSH_SEARCH_KEYWORD_FEEDBACK_WEIGHT", 0.3, min_value=0.0, help="RM3: share of the expansion terms in the keyword query (the original terms keep the rest).")
SEARCH_KEYWORD_FEEDBACK_MAX_CHUNKS = env.int("HEYSH_SEARCH_KEYWORD_FEEDBACK_MAX_CHUNKS", 250000, min_value=0, help="RM3 is skipped on a domain of more chunks than this (its second query costs twice the first at a million chunks); 0: no limit.")

# --- Notifications ---------------------------------------------------------------
EMAIL_BACKEND = env.str("HEYSH_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend", help="Django email backend for notification mail.")
EMAIL_HOST = env.str("HEYSH_EMAIL_HOST", "localhost", help="SMTP host.")
EMAIL_PORT = env.int("HEYSH_EMAIL_PORT", 25, min_value=1, max_value=65535, help="SMTP port.")
DEFAULT_FROM_EMAIL = env.str("HEYSH_DEFAULT_FROM_EMAIL", "heysh@localhost", help="Sender of notification mail.")
NOTIFY_BY_EMAIL = env.bool("HEYSH_NOTIFY_BY_EMAIL", False, help="Also send notifications by email.")
WEBHOOK_ALLOW_PRIVATE = env.bool("HEYSH_WEBHOOK_ALLOW_PRIVATE", False, help="Let domain webhooks target private, loopback or link-local addresses (a receiver on your own network). Off: such URLs are refused when saved and at every delivery.")
WEBHOOK_TIMEOUT_SECONDS = env.int("HEYSH_WEBHOOK_TIMEOUT_SECONDS", 10, min_value=1, help="Timeout of one webhook delivery.")

# --- Security -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"  # the admin previews files in a frame of its own origin
# Content-Security-Policy on every response, admin and API (django-csp 4,
# https://django-csp.readthedocs.io/en/latest/configuration.html). The admin (unfold) runs
# the standard Alpine.js build, which evaluates its x-data expressions with Function():
# 'unsafe-eval'. Its markup and the cytoscape graph use style attributes: 'unsafe-inline'
# for styles only. Our own inline scripts carry the per-request nonce. The API docs page
# widens the policy for the Swagger UI CDN (heysh/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
# security.W019 asks for DENY; SAMEORIGIN above is deliberate and still refuses other origins.
SILENCED_SYSTEM_CHECKS = ["security.W019"]
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("HEYSH_SECURE_SSL_REDIRECT", True, help="Redirect plain HTTP to HTTPS (production).")
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("HEYSH_HSTS_SECONDS", 31536000, min_value=0, help="HSTS max-age (production).")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HEYSH_HSTS_INCLUDE_SUBDOMAINS", True, help="HSTS includeSubDomains (production).")
    SECURE_HSTS_PRELOAD = env.bool("HEYSH_HSTS_PRELOAD", True, help="HSTS preload (production).")

# --- Internationalization -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging --------------------------------------------------------------------
LOG_LEVEL = env.choice("HEYSH_LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR"], "INFO", help="Log level.")
LOG_JSON = env.bool("HEYSH_LOG_JSON", PRODUCTION, help="JSON log lines (default on in production).")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "apps.core.logging.JsonFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "plain": {"()": "apps.core.logging.PlainFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain", "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # faiss.loader reports at INFO which CPU build it loaded, on every process start.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "faiss.loader": {"level": "WARNING"}},
}

# --- Tracing (apps.core.tracing) -------------------------------------------------
# The OpenTelemetry SDK's own variable names, so the usual tooling and docs apply; only the
# OTLP/HTTP protocol is spoken (Tempo, Jaeger and the Collector accept it on port 4318).
OTEL_EXPORTER_OTLP_ENDPOINT = env.url(
    "OTEL_EXPORTER_OTLP_ENDPOINT", ("http", "https"),
    help="OTLP/HTTP endpoint traces are sent to, e.g. http://tempo:4318. Unset: no tracing.",
)
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", "heysh", help="Service name on this process's spans (api, worker-ai, beat, ...).")

# unfold's login form posts no "next": land on the admin, not Django's /accounts/profile/ default.
LOGIN_REDIRECT_URL = "admin:index"

UNFOLD = {
    "SITE_TITLE": "heysh",
    "SITE_HEADER": "heysh",
    "SITE_SUBHEADER": "Knowledge CMS",
    "SITE_SYMBOL": "hub",
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": lambda request: _static("cms/favicon.svg")}],
    "DASHBOARD_CALLBACK": "apps.cms.dashboard.dashboard_callback",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    # Teal primary: distinct from unfold's default purple, readable in light and dark mode.
    "COLORS": {
        "primary": {
            "50": "oklch(98.4% .014 180.72)", "100": "oklch(95.3% .051 180.801)", "200": "oklch(91% .096 180.426)",
            "300": "oklch(85.5% .138 181.071)", "400": "oklch(77.7% .152 181.912)", "500": "oklch(70.4% .14 182.503)",
            "600": "oklch(60% .118 184.704)", "700": "oklch(51.1% .096 186.391)", "800": "oklch(43.7% .078 188.216)",
            "900": "oklch(38.6% .063 188.416)", "950": "oklch(27.7% .046 192.524)",
        },
    },
    "SIDEBAR": {"show_search": True, "show_all_applications": True, "navigation": "apps.cms.navigation.sidebar"},
}

ENV_REGISTRY = env.registry
