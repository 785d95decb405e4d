"""Short-lived signed tickets for a run's event stream: a browser ``EventSource`` cannot send an
``Authorization`` header, so a client holding a JWT trades it for ``?ticket=`` on one run's stream.

A ticket names the user and the run and is good for ``TICKET_MAX_AGE_SECONDS``; the stream still
checks the user's domain membership, so a ticket never widens what its user may read.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

TICKET_SALT = "heysh.documents.run-events-ticket"
TICKET_MAX_AGE_SECONDS = 60


def run_events_ticket_issue(*, user_id: int, run_id: int) -> str:
    return signing.dumps({"user": user_id, "run": run_id}, salt=TICKET_SALT, compress=True)


class RunEventsTicketAuthentication(authentication.BaseAuthentication):
    """Authenticates ``?ticket=`` on the run whose id is in the URL; absent ticket → next class."""

    def authenticate(self, request):
        ticket = request.query_params.get("ticket")
        if ticket is None:
            return None
        try:
            payload = signing.loads(ticket, salt=TICKET_SALT, max_age=TICKET_MAX_AGE_SECONDS)
        except signing.SignatureExpired as exc:
            raise exceptions.AuthenticationFailed("The ticket has expired; request a new one.") from exc
        except signing.BadSignature as exc:
            raise exceptions.AuthenticationFailed("The ticket is not valid.") from exc
        run_id = request.parser_context["kwargs"].get("pk")
        if payload.get("run") != run_id:
            raise exceptions.AuthenticationFailed("The ticket is for another run.")
        user = get_user_model().objects.filter(pk=payload.get("user"), is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed("The ticket's user no longer exists or is inactive.")
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class RunEventsTicketScheme(OpenApiAuthenticationExtension):
    """Names the ticket in the schema, so clients (and drf-spectacular's check) know the query parameter."""

    target_class = "apps.documents.event_tickets.RunEventsTicketAuthentication"
    name = "runEventsTicket"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "query",
            "name": "ticket",
            "description": "Short-lived signed ticket from `POST /api/v1/runs/{id}/events/ticket`, for a browser EventSource.",
        }
