"""Partner intro messages rendered from approved Jinja2 templates.

Only templates on the approved list can be rendered: by default every ``*.j2`` file
in the project's ``templates/`` folder, or an explicit list. Rendering uses
autoescaping, so the result is HTML-safe text (``&`` becomes ``&amp;``), and
``StrictUndefined``, so a variable the context lacks is an error instead of an
empty string.

Context the shipped templates use: ``partner_name``, ``sla_hours``, ``reference``
and ``lead``, a dict of the partner's allowlisted lead fields. Pass only allowlisted
fields in ``lead``. ``reference`` is the lead id, which the partner quotes back when
it reports the outcome and which ``leadshare explain`` accepts. It is sent even when
``lead_id`` is not on the allowlist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from leadshare.errors import ConfigError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def approved_templates(folder: Path = TEMPLATE_DIR) -> list[str]:
    """Return the names of the ``*.j2`` files in ``folder``, sorted."""
    return sorted(path.name for path in Path(folder).glob("*.j2") if path.is_file())


def render_intro(
    template_name: str,
    context: Mapping[str, Any],
    folder: Path = TEMPLATE_DIR,
    approved: Iterable[str] | None = None,
) -> str:
    """Render the approved template ``template_name`` with ``context``.

    Raises ConfigError naming the template when it is not approved or missing, has
    a syntax error, or uses a variable that ``context`` lacks.
    """
    allowed = sorted(approved) if approved is not None else approved_templates(folder)
    if template_name not in allowed:
        raise ConfigError(
            f"intro template {template_name!r} is not approved; approved templates: "
            f"{allowed}. Set the partner's 'template' to one of them"
        )
    try:
        template = _environment(Path(folder)).get_template(template_name)
        return template.render(**context).strip()
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(
            f"intro template {template_name!r} is approved but not found in {folder}; "
            "restore the file or remove it from the approved list"
        ) from exc
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"intro template {template_name!r} failed: {exc.message}; add the value to "
            f"the context (given: {sorted(context)}) or change the template"
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"intro template {template_name!r}, line {exc.lineno}: invalid syntax: "
            f"{exc.message}; fix the template"
        ) from exc


@cache
def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
