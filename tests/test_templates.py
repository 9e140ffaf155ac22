"""Intro templates: approved list, autoescaping, strict undefined variables."""

from __future__ import annotations

import pytest

from leadshare.errors import ConfigError
from leadshare.templates import TEMPLATE_DIR, approved_templates, render_intro

CONTEXT = {
    "partner_name": "Acme",
    "sla_hours": 48,
    "reference": "T-1",
    "lead": {"company": "Park & Lee", "country": "DE", "product": "CRM"},
}


def test_shipped_templates_approved():
    names = approved_templates()
    assert "intro_default.j2" in names
    assert len(names) >= 2


@pytest.mark.parametrize("name", approved_templates())
def test_shipped_templates_render(name):
    text = render_intro(name, CONTEXT)
    assert "Acme" in text
    assert "T-1" in text
    assert "48" in text


def test_default_escapes_html():
    text = render_intro("intro_default.j2", CONTEXT)
    assert "Park &amp; Lee" in text
    assert "Park & Lee" not in text


def test_default_without_optional_fields():
    text = render_intro("intro_default.j2", dict(CONTEXT, lead={}))
    assert "new lead." in text
    assert "interested" not in text


def test_brief_claims_nothing_it_lacks():
    with_product = render_intro("intro_brief.j2", CONTEXT)
    without = render_intro("intro_brief.j2", dict(CONTEXT, lead={}))

    assert with_product.startswith("New lead for Acme: CRM. Contact within 48 h")
    assert without.startswith("New lead for Acme. Contact within 48 h")


def test_missing_variable_raises():
    context = {key: value for key, value in CONTEXT.items() if key != "sla_hours"}
    with pytest.raises(ConfigError) as caught:
        render_intro("intro_default.j2", context)
    assert "sla_hours" in str(caught.value)
    assert "intro_default.j2" in str(caught.value)


def test_unapproved_template_named():
    with pytest.raises(ConfigError) as caught:
        render_intro("../secrets.j2", CONTEXT)
    assert "'../secrets.j2'" in str(caught.value)
    assert "intro_default.j2" in str(caught.value)


def test_configured_list_limits(tmp_path):
    (tmp_path / "a.j2").write_text("A {{ partner_name }}", encoding="utf-8")
    (tmp_path / "b.j2").write_text("B {{ partner_name }}", encoding="utf-8")
    assert render_intro("a.j2", CONTEXT, folder=tmp_path, approved=["a.j2"]) == "A Acme"
    with pytest.raises(ConfigError, match="'b.j2' is not approved"):
        render_intro("b.j2", CONTEXT, folder=tmp_path, approved=["a.j2"])


def test_approved_but_missing(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        render_intro("gone.j2", CONTEXT, folder=tmp_path, approved=["gone.j2"])


def test_syntax_error_reported(tmp_path):
    (tmp_path / "bad.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        render_intro("bad.j2", CONTEXT, folder=tmp_path)


def test_template_dir_is_project():
    assert (TEMPLATE_DIR / "intro_default.j2").is_file()
