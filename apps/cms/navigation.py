"""The admin sidebar (unfold's SIDEBAR["navigation"], built per request).

Editors see their daily work first — workspaces, search, content, processing, access.
What only the pipeline writes (chunks, caches, provenance) and the beat schedules sit
under "Advanced", shown to superusers only; "All applications" still lists every model.
"""

from __future__ import annotations

from django.urls import reverse


def _item(title: str, icon: str, url_name: str) -> dict:
    return {"title": title, "icon": icon, "link": reverse(url_name)}


def _model(title: str, icon: str, app_model: str) -> dict:
    return _item(title, icon, f"admin:{app_model}_changelist")


def sidebar(request) -> list[dict]:
    groups = [
        {
            "title": "Work",
            "items": [
                _item("Dashboard", "dashboard", "admin:index"),
                _item("Domain workspaces", "space_dashboard", "admin:domain-workspaces"),
                _item("Search", "search", "admin:domain-search"),
            ],
        },
        {
            "title": "Content",
            "items": [
                _model("Domains", "folder", "domains_domain"),
                _model("Documents", "description", "documents_document"),
                _model("Domain bootstraps", "rocket_launch", "bootstrap_domainbootstrap"),
                _model("Entities", "hub", "search_entity"),
                _model("Relations", "share", "search_relation"),
            ],
        },
        {
            "title": "Processing",
            "items": [
                _model("Processing runs", "timeline", "documents_processingrun"),
                _model("Document versions", "history", "documents_documentversion"),
                _model("Notifications", "notifications", "documents_notification"),
                _model("Webhook deliveries", "webhook", "documents_webhookdelivery"),
            ],
        },
        {
            "title": "Access",
            "items": [
                _model("Memberships", "group", "domains_membership"),
                _model("API keys", "key", "domains_apikey"),
            ],
        },
    ]
    if request.user.is_superuser:
        groups[-1]["items"] += [_model("Users", "person", "auth_user"), _model("Groups", "groups", "auth_group")]
        groups.append(
            {
                "title": "Advanced",
                "collapsible": True,
                "items": [
                    _model("Chunks", "segment", "documents_chunk"),
                    _model("Extraction caches", "cached", "search_extractioncache"),
                    _model("Mentions", "format_quote", "search_mention"),
                    _model("Relation evidence", "fact_check", "search_relationevidence"),
                    _model("Periodic tasks", "schedule", "django_celery_beat_periodictask"),
                    _model("Interval schedules", "timer", "django_celery_beat_intervalschedule"),
                    _model("Crontab schedules", "event_repeat", "django_celery_beat_crontabschedule"),
                    _model("Clocked schedules", "alarm", "django_celery_beat_clockedschedule"),
                    _model("Solar schedules", "wb_sunny", "django_celery_beat_solarschedule"),
                    _model("Login attempts", "login", "axes_accessattempt"),
                    _model("Login failures", "block", "axes_accessfailurelog"),
                    _model("Access logs", "list_alt", "axes_accesslog"),
                    _model("Issued tokens", "token", "token_blacklist_outstandingtoken"),
                    _model("Blacklisted tokens", "do_not_disturb_on", "token_blacklist_blacklistedtoken"),
                ],
            }
        )
    return groups
