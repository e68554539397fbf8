"""Service documents: ``GET .../{service}/$metadata`` (the CSDL of a service's entity sets, XML; FACTS §5 [O]) and
``GET .../{service}/`` (the list of its entity sets). Built from the catalog, so every type, key, property and
navigation of the reference appears as the REST API serves it."""

from __future__ import annotations

from functools import cache
from xml.sax.saxutils import quoteattr

from ..registry import Endpoint
from .catalog import catalog
from .seed import singular

__all__ = ["metadata_document", "service_endpoints", "service_json", "service_xml", "services"]

_NS = "Exact.Web.Api.Models"
_EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
_EDM = "http://schemas.microsoft.com/ado/2008/09/edm"


@cache
def services() -> dict[tuple[str, bool], bool]:
    """(service path, beta) of every service (``crm``, ``sync/CRM``, ``read/financial``...) -> whether its URLs
    carry a division."""
    out: dict[tuple[str, bool], bool] = {}
    for ep in catalog():
        key = (ep.path.rsplit("/", 1)[0], ep.beta)
        out[key] = out.get(key, False) or ep.division_scoped
    return out


def service_endpoints(service: str, beta: bool) -> list[Endpoint]:
    """The entity sets of one service, by name."""
    found = [ep for ep in catalog() if ep.path.rsplit("/", 1)[0] == service and ep.beta == beta]
    return sorted(found, key=lambda ep: ep.path)


def _type_name(ep: Endpoint) -> str:
    return singular(catalog().table_path(ep).rsplit("/", 1)[-1])


def metadata_document(service: str, beta: bool) -> bytes:
    """The EDMX 1.0 / CSDL document of a service (DataServiceVersion 2.0, as WCF Data Services writes it)."""
    cat = catalog()
    sets = service_endpoints(service, beta)
    types: dict[str, Endpoint] = {}
    for ep in sets:
        types.setdefault(_type_name(ep), ep)
        for link in ep.links:
            target = cat.get(link.target)
            if target is not None:
                types.setdefault(_type_name(target), target)
    entity_types = []
    associations = []
    association_sets = []
    for name, ep in sorted(types.items()):
        keys = ep.keys or (ep.fields[0].name,)
        parts = [f"<EntityType Name={quoteattr(name)}><Key>"]
        parts += [f"<PropertyRef Name={quoteattr(k)} />" for k in keys]
        parts.append("</Key>")
        for f in ep.fields:
            if not f.is_navigation:
                nullable = "false" if f.name in keys else "true"
                parts.append(
                    f'<Property Name={quoteattr(f.name)} Type={quoteattr(f.edm_type)} Nullable="{nullable}" />'
                )
        for link in ep.links:
            target = cat.get(link.target)
            if target is None:
                continue
            relation = f"{name}_{link.name}"
            parts.append(
                f"<NavigationProperty Name={quoteattr(link.name)} Relationship={quoteattr(f'{_NS}.{relation}')} "
                f'FromRole="{name}" ToRole="{link.name}" />'
            )
            other = _type_name(target)
            associations.append(
                f'<Association Name="{relation}"><End Type="{_NS}.{name}" Role="{name}" Multiplicity="0..1" />'
                f'<End Type="{_NS}.{other}" Role="{link.name}" Multiplicity="*" /></Association>'
            )
            if ep in sets and target in sets:
                association_sets.append(
                    f'<AssociationSet Name="{relation}" Association="{_NS}.{relation}">'
                    f'<End Role="{name}" EntitySet="{ep.path.rsplit("/", 1)[-1]}" />'
                    f'<End Role="{link.name}" EntitySet="{target.path.rsplit("/", 1)[-1]}" /></AssociationSet>'
                )
        parts.append("</EntityType>")
        entity_types.append("".join(parts))
    entity_sets = "".join(
        f'<EntitySet Name="{ep.path.rsplit("/", 1)[-1]}" EntityType="{_NS}.{_type_name(ep)}" />' for ep in sets
    )
    container = f'<EntityContainer Name="ExactOnlineDataService" m:IsDefaultEntityContainer="true">{entity_sets}'
    container += "".join(association_sets) + "</EntityContainer>"
    schema = f'<Schema Namespace="{_NS}" xmlns="{_EDM}">' + "".join(entity_types) + "".join(associations)
    schema += container + "</Schema>"
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
        f'<edmx:Edmx Version="1.0" xmlns:edmx="{_EDMX}">'
        f'<edmx:DataServices m:DataServiceVersion="2.0" xmlns:m="{_M}">{schema}</edmx:DataServices></edmx:Edmx>'
    ).encode()


def service_xml(service: str, beta: bool, base: str) -> bytes:
    """The AtomPub service document: one collection per entity set."""
    collections = "".join(
        f'<collection href="{name}"><atom:title>{name}</atom:title></collection>'
        for name in (ep.path.rsplit("/", 1)[-1] for ep in service_endpoints(service, beta))
    )
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
        f'<service xml:base={quoteattr(base)} xmlns="http://www.w3.org/2007/app" '
        'xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<workspace><atom:title>Default</atom:title>{collections}</workspace></service>"
    ).encode()


def service_json(service: str, beta: bool) -> dict[str, object]:
    """The JSON service document: ``{"d": {"EntitySets": [...]}}``."""
    return {"d": {"EntitySets": [ep.path.rsplit("/", 1)[-1] for ep in service_endpoints(service, beta)]}}
