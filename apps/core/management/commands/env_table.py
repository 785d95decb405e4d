"""Print the Markdown table of every environment variable heysh reads (for README.md).

Variables come from two places: ``settings.ENV_REGISTRY`` (what this process read) and
a scan of ``heysh/settings.py`` for ``env.<kind>("NAME", ...)`` calls, so variables read
only in a branch not taken here (S3, Neo4j, Weaviate, production) are listed too.
The ``VAULT_*`` variables are read by ``heysh/vault.py`` before settings exist.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SETTINGS_FILE = Path(settings.BASE_DIR) / "heysh" / "settings.py"
ENV_METHODS = {"str", "secret", "bool", "int", "float", "list", "choice", "url"}

VAULT_VARIABLES = [
    ("VAULT_ADDR", "url", "", "Vault address; when set, KV v2 secrets are overlaid on the environment at startup."),
    ("VAULT_TOKEN", "secret", "", "Vault token (one of three ways to log in)."),
    ("VAULT_ROLE_ID", "string", "", "AppRole role id (with VAULT_SECRET_ID)."),
    ("VAULT_SECRET_ID", "secret", "", "AppRole secret id."),
    ("VAULT_K8S_ROLE", "string", "", "Kubernetes auth role (reads the service account token)."),
    ("VAULT_K8S_TOKEN_PATH", "string", "/var/run/secrets/kubernetes.io/serviceaccount/token", "Service account token file for Kubernetes auth."),
    ("VAULT_NAMESPACE", "string", "", "Vault Enterprise namespace."),
    ("VAULT_KV_MOUNT", "string", "secret", "Mount point of the KV v2 engine."),
    ("VAULT_KV_PATHS", "list", "heysh", "Comma-separated secret paths; later paths win. The environment wins over Vault."),
    ("VAULT_TIMEOUT_SECONDS", "float", "5", "Timeout of Vault requests."),
]


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    default: str
    help: str


def _default_text(node: ast.expr | None) -> str:
    if node is None:
        return ""
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return f"`{ast.unparse(node)}`"
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list):
        return "`" + ",".join(map(str, value)) + "`"
    return f"`{value}`"


def scan_settings(path: Path = SETTINGS_FILE) -> dict[str, Row]:
    """Every ``env.<kind>("NAME", ...)`` call in the settings module, in file order."""
    rows: dict[str, Row] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "env" and node.func.attr in ENV_METHODS):
            continue
        if not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        name, kind = node.args[0].value, node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        positional = list(node.args[1:])
        if kind == "choice":
            choices = ast.literal_eval(positional.pop(0)) if positional else []
            kind = "choice: " + "|".join(choices)
        elif kind == "url":
            positional.pop(0) if positional else None  # accepted schemes
            kind = "url"
        default = keywords.get("default", positional[0] if positional else None)
        help_node = keywords.get("help")
        help_text = help_node.value if isinstance(help_node, ast.Constant) else ""
        kind = {"str": "string"}.get(kind, kind)
        rows[name] = Row(name, kind, _default_text(default), help_text)
    return rows


def all_variables() -> list[Row]:
    rows = scan_settings()
    for name, var in settings.ENV_REGISTRY.items():
        if name not in rows:
            rows[name] = Row(name, var.kind, "" if var.default in (None, "", []) else f"`{var.default}`", var.help)
    ordered = sorted(rows.values(), key=lambda r: _order(r.name))
    return ordered + [Row(name, kind, f"`{default}`" if default else "", text) for name, kind, default, text in VAULT_VARIABLES]


def _order(name: str) -> tuple[int, str]:
    # Core connection URLs first, then heysh's own, then the other backends.
    group = 0 if name in ("DATABASE_URL", "REDIS_URL") else 1 if name.startswith("HEYSH_") else 2
    return group, name


def markdown_table(rows: list[Row]) -> str:
    lines = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for row in rows:
        default = row.default or "—"
        if row.kind == "secret" and row.default:
            default = "(set)"
        cells = [f"`{row.name}`", row.kind, default, row.help]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


README = Path(settings.BASE_DIR) / "README.md"
START, END = "<!-- env-table:start -->", "<!-- env-table:end -->"


def readme_with_table(text: str, table: str) -> str:
    if START not in text or END not in text:
        raise CommandError(f"README.md has no {START} ... {END} block to replace.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


class Command(BaseCommand):
    help = "Print the Markdown table of every environment variable; --update-readme rewrites README.md's table."

    def add_arguments(self, parser):
        parser.add_argument("--update-readme", action="store_true", help="Replace the table between the env-table markers in README.md.")

    def handle(self, *args, update_readme: bool = False, **options):
        table = markdown_table(all_variables())
        if not update_readme:
            self.stdout.write(table)
            return
        README.write_text(readme_with_table(README.read_text(), table))
        self.stdout.write(f"README.md: {len(all_variables())} variables")
