"""``/catalog``: the departments, entities and fields, and what each role may do with each field.

Who sees what (deny by default):

- no token, or a token that fails a check: 401, the token form, nothing of
  the catalog;
- any signed-in principal: the departments, the entities and their fields
  (classification, update frequency, provider, descriptions, mask): the
  metadata the GraphQL schema's descriptions already give a client, never a
  value, never a source's address;
- access rows: only the viewer's own effective roles (held, and in the
  token's department), for the purposes those roles' grants name; a
  principal the policy lets read the audit log (the auditor, for purpose
  ``oversight``) oversees sharing and sees every role's rows and every
  purpose.

Fields classified ``not_shared`` are not in the resolved catalog, so they
are not here either.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from govgraph.auth.policy import Policy
from govgraph.catalog.model import Catalog, CatalogField, Department, Entity
from govgraph.catalog.specs import Text
from govgraph.http.pages.access import RoleAccess, coordinates, role_access
from govgraph.http.pages.gate import links, page, who
from govgraph.http.pages.layout import esc, render
from govgraph.http.pages.viewer import Viewer

NO_PURPOSE = "none stated"


async def render_catalog(request: Request, viewer: Viewer) -> Response:
    """The catalog browser, filtered to what the viewer's token may see."""
    catalog: Catalog = request.app.state.catalog
    policy: Policy = request.app.state.policy
    authorizer = viewer.authorizer
    roles = list(policy.roles.values()) if viewer.oversees else authorizer.effective_roles(viewer.principal)
    names = coordinates(authorizer)
    accesses = [role_access(authorizer, role, names) for role in roles]
    shown = (
        sorted(policy.purposes)
        if viewer.oversees
        else sorted({purpose for access in accesses for purpose in access.purposes if purpose})
    )
    if viewer.oversees:
        scope = "You oversee data sharing: the access of every role is shown."
    elif roles:
        scope = (
            f"The access of your own role{'s' if len(roles) > 1 else ''} "
            f"({', '.join(role.name for role in roles)}) is shown, for the purposes its grants name."
        )
    else:
        scope = "None of your token's roles is effective in its department, so no access is shown."
    body = (
        who(viewer)
        + f'<div class="note"><p>Metadata only: no data value is ever shown here. {esc(scope)}</p></div>'
        + '<p><a href="#purposes">Purposes</a> · <a href="#departments">Departments</a> · '
        '<a href="#entities">Entities</a> · <a href="#access">Access</a></p>'
        + _purposes(policy, shown)
        + _departments(catalog)
        + _entities(catalog)
        + _access(accesses)
    )
    return render("Catalog", body, links=links(request, viewer))


catalog_page = page(render_catalog)


def _text(text: Text | None) -> tuple[str, str]:
    """(Chinese, English) cells' content."""
    if text is None:
        return "", ""
    return f'<span lang="zh">{esc(text.zh)}</span>', esc(text.en)


def _purposes(policy: Policy, shown: list[str]) -> str:
    rows = "".join(
        f"<tr><td><code>{esc(name)}</code></td><td>{zh}</td><td>{en}</td></tr>"
        for name in shown
        for zh, en in [_text(policy.purposes[name])]
    )
    if not rows:
        return '<h2 id="purposes">Purposes</h2><p class="muted">No purpose of yours is granted anything.</p>'
    return (
        '<h2 id="purposes">Purposes</h2><table class="purposes"><tr><th>Purpose</th><th>中文</th>'
        f"<th>English</th></tr>{rows}</table>"
    )


def _provided(catalog: Catalog, department: Department) -> str:
    parts = []
    for entity in catalog.entities.values():
        fields = [name for name, item in entity.fields.items() if item.department == department.id]
        if fields:
            home = " (home)" if entity.home_department == department.id else ""
            parts.append(
                f"<b>{esc(entity.name)}</b>{esc(home)}: "
                + ", ".join(f"<code>{esc(f)}</code>" for f in fields)
            )
    return "<br>".join(parts)


def _departments(catalog: Catalog) -> str:
    rows = []
    for department in catalog.departments.values():
        name_zh, name_en = _text(department.name)
        about_zh, about_en = _text(department.description)
        rows.append(
            f'<tr data-department="{esc(department.id)}"><td><code>{esc(department.id)}</code></td>'
            f"<td>{name_zh}<br>{name_en}</td><td>{about_zh}<br>{about_en}</td>"
            f"<td>{esc(department.source.kind)}</td><td>{esc(department.frequency)}</td>"
            f"<td>{_provided(catalog, department)}</td></tr>"
        )
    return (
        '<h2 id="departments">Departments</h2><table class="departments"><tr><th>Id</th><th>Name</th>'
        "<th>Description</th><th>Source</th><th>Updated</th><th>Provides</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _entities(catalog: Catalog) -> str:
    return '<h2 id="entities">Entities</h2>' + "".join(
        _entity(entity) for entity in catalog.entities.values()
    )


def _entity(entity: Entity) -> str:
    zh, en = _text(entity.description)
    header = (
        f'<h3 id="entity-{esc(entity.name)}">{esc(entity.name)}</h3>'
        f'<p>{zh}<br>{en}<br><span class="muted">Key <code>{esc(entity.key_field)}</code> '
        f"({esc(entity.key_type)}); home department <code>{esc(entity.home_department)}</code>.</span></p>"
    )
    rows = "".join(_field_row(item) for item in entity.fields.values())
    return (
        f'{header}<table class="entity" data-entity="{esc(entity.name)}"><tr><th>Field</th><th>Type</th>'
        "<th>Classification</th><th>Updated</th><th>Provider</th><th>Mask</th><th>中文说明</th>"
        f"<th>English description</th></tr>{rows}</table>"
    )


def _field_row(item: CatalogField) -> str:
    zh, en = _text(item.description)
    ttl = "always live" if item.ttl is None else f"cached up to {item.ttl} s"
    return (
        f'<tr data-coordinate="{esc(item.coordinate)}"><td><code>{esc(item.name)}</code></td>'
        f"<td><code>{esc(item.type)}</code></td>"
        f'<td class="c-{esc(item.classification)}">{esc(item.classification)}</td>'
        f'<td>{esc(item.frequency)}<br><span class="muted">{esc(ttl)}</span></td>'
        f"<td><code>{esc(item.department)}</code></td><td>{esc(item.mask or '')}</td>"
        f"<td>{zh}</td><td>{en}</td></tr>"
    )


def _access(accesses: list[RoleAccess]) -> str:
    intro = (
        '<h2 id="access">Access</h2><p class="muted">What a token holding just this role, in its department, '
        'gets for each field: <span class="a-read">read</span> (the value), '
        '<span class="a-mask">mask</span> (the masked value), <span class="a-verify">verify</span> '
        '(yes/no questions only) or <span class="a-deny">deny</span>. '
        f"“{NO_PURPOSE}” is also what any purpose not listed gets. Decided by govgraph's authorizer, "
        "as for /graphql.</p>"
    )
    return intro + "".join(_role(access) for access in accesses)


def _role(access: RoleAccess) -> str:
    role = access.role
    zh, en = _text(role.description)
    header = (
        f'<h3 id="role-{esc(role.name)}">{esc(role.name)}</h3><p>{zh} · {en}<br><span class="muted">'
        f"Department <code>{esc(role.department or 'none')}</code>.</span></p>"
    )
    columns = "".join(f"<th>{esc(purpose or NO_PURPOSE)}</th>" for purpose in access.purposes)
    rows = "".join(
        f'<tr data-coordinate="{esc(coordinate)}"><td><code>{esc(coordinate)}</code></td>'
        + "".join(
            f'<td class="a-{esc(decision.access)}"'
            + (f' title="{esc(decision.reason)}"' if decision.reason else "")
            + f">{esc(decision.access)}</td>"
            for decision in decisions
        )
        + "</tr>"
        for coordinate, decisions in access.rows
    )
    return (
        f'<section class="access" data-role="{esc(role.name)}">{header}<table><tr><th>Field</th>{columns}</tr>'
        f"{rows}</table></section>"
    )
