"""Print how to log in to a running `make run` in a short box: the last thing `make run` prints.

Reads what ``bootstrap_demo`` created (the ``admin`` account, its password in
``var/demo-admin-password``); creates nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.urls import reverse

from apps.cms.management.commands.bootstrap_demo import (
    ADMIN_USERNAME,
    DEMO_SLUG,
    demo_password,
    login_box,
    password_file_path,
)


class Command(BaseCommand):
    help = "Print the demo admin's login and the site's URLs in a box (after `bootstrap_demo`)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the site is served.")

    def handle(self, *args, base_url: str, **options):
        base_url = base_url.rstrip("/")
        admin = get_user_model().objects.filter(username=ADMIN_USERNAME).first()
        password = demo_password(admin, password_file_path()) if admin else "(no admin yet: run `manage.py bootstrap_demo`)"
        rows = [
            ("Admin", base_url + reverse("admin:index")),
            ("User", ADMIN_USERNAME),
            ("Password", password),
            ("Workspace", base_url + reverse("admin:domain-workspace", args=[DEMO_SLUG])),
            ("API docs", f"{base_url}/api/docs/"),
        ]
        self.stdout.write(login_box(rows, title="heysh is running · Ctrl-C stops it"))
