"""What the emulator knows beyond the 2022 reference snapshot, each item with its source.

- Endpoints real clients call that the reference lacks: ``hrm/Divisions`` (picqer/exact-php-client ``Division.php``
  uses it, ossobv/exactonline ``get_divisions`` calls it; FACTS §5), served from the rows of ``system/Divisions``
  with the fields picqer's model lists; and the bulk twins of standard entities that picqer's models (and ossobv's
  ``bulk/Logistics/SalesItemPrices``) use: GET-only, 1000 rows per page, ``$select`` required (FACTS §5).
- POST-mandatory fields: the reference marks one; Exact's documentation pages mark more (certainty [C]); the rest
  are the obvious requirements of the business object, marked [U] (switch them off with
  ``EmulatorConfig(mandatory_fields="documented")``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ..registry import Endpoint, Registry

__all__ = ["MANDATORY", "Mandatory", "extra_endpoints", "mandatory_fields"]

# picqer/exact-php-client src/Picqer/Financials/Exact/Division.php (HEAD 8b35057): the fields of hrm/Divisions.
_HRM_DIVISION_FIELDS = frozenset(
    (
        "Code",
        "ArchiveDate",
        "BlockingStatus",
        "Class_01",
        "Class_02",
        "Class_03",
        "Class_04",
        "Class_05",
        "Country",
        "Created",
        "Creator",
        "CreatorFullName",
        "Currency",
        "Customer",
        "CustomerCode",
        "CustomerName",
        "Description",
        "HID",
        "Main",
        "Modified",
        "Modifier",
        "ModifierFullName",
        "OBNumber",
        "SiretNumber",
        "StartDate",
        "Status",
        "TaxOfficeNumber",
        "TaxReferenceNumber",
        "TemplateCode",
        "VATNumber",
        "Website",
    )
)

# picqer/exact-php-client models (HEAD 8b35057) and ossobv/exactonline api/bulksalesitemprices.py:
# bulk endpoint -> the standard entity whose rows it reads.
_BULK_TWINS = {
    "bulk/CRM/Accounts": "crm/Accounts",
    "bulk/CRM/Addresses": "crm/Addresses",
    "bulk/CRM/Contacts": "crm/Contacts",
    "bulk/CRM/Quotations": "crm/Quotations",
    "bulk/Documents/DocumentAttachments": "documents/DocumentAttachments",
    "bulk/Documents/Documents": "documents/Documents",
    "bulk/Financial/GLAccounts": "financial/GLAccounts",
    "bulk/Financial/GLClassifications": "financial/GLClassifications",
    "bulk/Financial/TransactionLines": "financialtransaction/TransactionLines",
    "bulk/Logistics/Items": "logistics/Items",
    "bulk/Logistics/SalesItemPrices": "logistics/SalesItemPrices",
    "bulk/SalesInvoice/SalesInvoices": "salesinvoice/SalesInvoices",
    "bulk/SalesOrder/GoodsDeliveries": "salesorder/GoodsDeliveries",
    "bulk/SalesOrder/GoodsDeliveryLines": "salesorder/GoodsDeliveryLines",
    "bulk/SalesOrder/SalesOrders": "salesorder/SalesOrders",
}


def extra_endpoints(reg: Registry) -> list[tuple[Endpoint, str]]:
    """(endpoint, table path) for each endpoint the reference lacks."""
    divisions = reg["system/Divisions"]
    out = [
        (
            replace(
                divisions,
                name="Divisions",
                path="hrm/Divisions",
                doc="https://start.exactonline.nl/docs/HlpRestAPIResourcesDetails.aspx?name=HRMDivisions",
                fields=tuple(f for f in divisions.fields if f.name in _HRM_DIVISION_FIELDS),
                links=(),
            ),
            "system/Divisions",
        )
    ]
    for path, standard in _BULK_TWINS.items():
        if reg.get(path) is not None and reg[path].path == path:
            continue
        base = reg[standard]
        twin = replace(
            base,
            path=path,
            kind="bulk",
            methods=("GET",),
            doc=base.doc.replace("name=", "name=Bulk"),
            fields=tuple(replace(f, writable_on_post=False, writable_on_put=False) for f in base.fields),
        )
        out.append((twin, standard))
    return out


@dataclass(frozen=True)
class Mandatory:
    """Fields a POST to ``path`` must carry; ``certainty`` as in FACTS: C confirmed, U a guess."""

    path: str
    fields: tuple[str, ...]
    certainty: Literal["C", "U"]
    source: str


MANDATORY: tuple[Mandatory, ...] = (
    Mandatory("crm/Accounts", ("Name",), "C", "Exact's documentation as issue 13 quotes it"),
    Mandatory("crm/BankAccounts", ("Account", "BankAccount"), "C", "Exact's REST reference page CRMBankAccounts"),
    Mandatory("webhooks/WebhookSubscriptions", ("CallbackURL", "Topic"), "C", "FACTS §5: the writable fields"),
    Mandatory(
        "crm/Contacts", ("LastName",), "U", "a person is known by a last name; Invantive's model marks Account optional"
    ),
    Mandatory("crm/Addresses", ("Account",), "U", "an address belongs to an account"),
    Mandatory("logistics/Items", ("Code", "Description"), "U", "an item is known by its code"),
    Mandatory("financial/GLAccounts", ("Code", "Description"), "U", "a G/L account is known by its code"),
    Mandatory("salesentry/SalesEntries", ("Customer", "Journal"), "U", "an entry is booked in a journal"),
    Mandatory("salesentry/SalesEntryLines", ("GLAccount", "AmountFC"), "U", "a line books an amount"),
    Mandatory("purchaseentry/PurchaseEntries", ("Supplier", "Journal"), "U", "an entry is booked in a journal"),
    Mandatory("purchaseentry/PurchaseEntryLines", ("GLAccount", "AmountFC"), "U", "a line books an amount"),
    Mandatory("generaljournalentry/GeneralJournalEntries", ("JournalCode",), "U", "an entry is booked in a journal"),
    Mandatory("generaljournalentry/GeneralJournalEntryLines", ("GLAccount", "AmountFC"), "U", "a line books an amount"),
    Mandatory("salesinvoice/SalesInvoices", ("OrderedBy",), "U", "an invoice has a customer"),
    Mandatory("salesinvoice/SalesInvoiceLines", ("Item",), "U", "an invoice line sells an item"),
    Mandatory("salesorder/SalesOrders", ("OrderedBy",), "U", "an order has a customer"),
    Mandatory("salesorder/SalesOrderLines", ("Item",), "U", "an order line sells an item"),
    Mandatory("crm/Quotations", ("OrderAccount",), "U", "a quotation has a customer"),
    Mandatory("crm/QuotationLines", ("Item",), "U", "a quotation line offers an item"),
    Mandatory("purchaseorder/PurchaseOrders", ("Supplier",), "U", "a purchase order has a supplier"),
    Mandatory("purchaseorder/PurchaseOrderLines", ("Item",), "U", "a purchase order line buys an item"),
)


def mandatory_fields(endpoint: Endpoint, level: Literal["all", "documented", "off"]) -> tuple[str, ...]:
    """The fields a POST to ``endpoint`` must carry under the configured level (reference flags included)."""
    if level == "off":
        return ()
    names = [f.name for f in endpoint.fields if f.mandatory]
    for m in MANDATORY:
        if m.path == endpoint.path and (level == "all" or m.certainty == "C"):
            names += [n for n in m.fields if endpoint.field(n) is not None]
    return tuple(dict.fromkeys(names))
