"""Idempotent demo setup for `make run`: an admin account and a "demo" domain it owns.

The admin's password is random, kept in ``var/demo-admin-password`` (mode 600) and
printed on every run so the person who typed `make run` can log in.
"""

from __future__ import annotations

import importlib
import importlib.util
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.domains import services
from apps.domains.models import Domain

ADMIN_USERNAME = "admin"
DEMO_SLUG = "demo"
SAMPLE_MODULE = "apps.documents.sample"


def password_file_path():
    return settings.VAR_DIR / "demo-admin-password"


def demo_password(admin, password_file) -> str:
    """The demo admin's password from ``password_file``, or why it is not the one to use."""
    stored = password_file.read_text().strip() if password_file.exists() else ""
    if stored and admin.check_password(stored):
        return stored
    # The account's password was set elsewhere: never overwrite a person's choice.
    return f"(not the one in {password_file}: it was changed; use `manage.py changepassword admin`)"


def login_box(rows: list[tuple[str, str]], *, title: str) -> str:
    """``rows`` of (label, value) in a box drawn with box-drawing characters, as one string."""
    width = max(len(label) for label, _ in rows)
    lines = [title, *(f"{label.ljust(width)}  {value}" for label, value in rows)]
    inner = max(len(line) for line in lines)
    return "\n".join(["┌" + "─" * (inner + 2) + "┐", *(f"│ {line.ljust(inner)} │" for line in lines),
                      "└" + "─" * (inner + 2) + "┘"])


class Command(BaseCommand):
    help = "Create (once) the demo superuser `admin` and the `demo` domain; print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the site is served, for the printed links.")
        parser.add_argument("--skip-sample", action="store_true", help="Do not ingest the sample corpus.")

    def handle(self, *args, base_url: str, skip_sample: bool, **options):
        password_file = password_file_path()
        with transaction.atomic():
            admin, password = self._admin(password_file)
            domain = self._demo_domain(admin)
        self.stdout.write(self.style.SUCCESS(f"Admin: {base_url}/admin/  user: {ADMIN_USERNAME}  password: {password}"))
        self.stdout.write(f"API docs: {base_url}/api/docs/  (schema: {base_url}/api/schema/)")
        self.stdout.write(f"Demo domain: {domain.slug!r} owned by {ADMIN_USERNAME}")
        if not skip_sample:
            self._ingest_sample(domain, admin)

    def _admin(self, password_file):
        admin = get_user_model().objects.filter(username=ADMIN_USERNAME).first()
        if admin is not None:
            return admin, demo_password(admin, password_file)
        password = secrets.token_urlsafe(12)
        admin = get_user_model().objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(f"created superuser {ADMIN_USERNAME!r} (password kept in {password_file})")
        return admin, password

    def _demo_domain(self, admin) -> Domain:
        domain = Domain.objects.filter(slug=DEMO_SLUG).first()
        if domain is None:
            domain = services.domain_create(
                user=admin, slug=DEMO_SLUG, name="Demo",
                description="A demo knowledge domain created by `make run`.",
            )
            self.stdout.write(f"created domain {DEMO_SLUG!r}")
        services.membership_ensure_owner(domain=domain, user=admin)
        return domain

    def _ingest_sample(self, domain, admin) -> None:
        # --- Sample corpus hook ------------------------------------------------------
        # The sample corpus lives in apps.documents.sample when that module exists;
        # until then there is nothing to ingest. A broken module fails loudly here.
        if importlib.util.find_spec(SAMPLE_MODULE) is None:
            self.stdout.write(f"no sample corpus ({SAMPLE_MODULE} does not exist); skipping")
            return
        sample = importlib.import_module(SAMPLE_MODULE)
        result = sample.ingest_sample_corpus(domain=domain, user=admin)
        self.stdout.write(f"sample corpus: {result}")
