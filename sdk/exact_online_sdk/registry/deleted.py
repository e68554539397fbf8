"""``sync/Deleted`` entity types: Exact's EntityType codes and the sync endpoint each one belongs to.

Codes from FACTS §5 (Exact's sync demo, and a 2024 client for 15-22). Codes 19-21 are unknown; PurchaseOrders (22)
has no sync endpoint in the reference. Used by the sync engine, the models and the emulator alike.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = ["SYNC_PATH_BY_ENTITY_TYPE", "DeletedEntityType", "entity_type_for_sync_path"]


class DeletedEntityType(IntEnum):
    """The ``EntityType`` of a ``sync/Deleted`` row."""

    TRANSACTION_LINES = 1
    ACCOUNTS = 2
    ADDRESSES = 3
    ATTACHMENTS = 4
    CONTACTS = 5
    DOCUMENTS = 6
    GL_ACCOUNTS = 7
    SALES_ITEM_PRICES = 8
    ITEMS = 9
    PAYMENT_TERMS = 10
    QUOTATIONS = 11
    SALES_ORDERS = 12
    SALES_INVOICES = 13
    TIME_COST_TRANSACTIONS = 14
    STOCK_POSITIONS = 15
    GOODS_DELIVERIES = 16
    GOODS_DELIVERY_LINES = 17
    GL_CLASSIFICATIONS = 18
    PURCHASE_ORDERS = 22


SYNC_PATH_BY_ENTITY_TYPE: Final[dict[DeletedEntityType, str]] = {
    DeletedEntityType.TRANSACTION_LINES: "sync/Financial/TransactionLines",
    DeletedEntityType.ACCOUNTS: "sync/CRM/Accounts",
    DeletedEntityType.ADDRESSES: "sync/CRM/Addresses",
    DeletedEntityType.ATTACHMENTS: "sync/Documents/DocumentAttachments",
    DeletedEntityType.CONTACTS: "sync/CRM/Contacts",
    DeletedEntityType.DOCUMENTS: "sync/Documents/Documents",
    DeletedEntityType.GL_ACCOUNTS: "sync/Financial/GLAccounts",
    DeletedEntityType.SALES_ITEM_PRICES: "sync/Logistics/SalesItemPrices",
    DeletedEntityType.ITEMS: "sync/Logistics/Items",
    DeletedEntityType.PAYMENT_TERMS: "sync/Cashflow/PaymentTerms",
    DeletedEntityType.QUOTATIONS: "sync/CRM/Quotations",
    DeletedEntityType.SALES_ORDERS: "sync/SalesOrder/SalesOrders",
    DeletedEntityType.SALES_INVOICES: "sync/SalesInvoice/SalesInvoices",
    DeletedEntityType.TIME_COST_TRANSACTIONS: "sync/Project/TimeCostTransactions",
    DeletedEntityType.STOCK_POSITIONS: "sync/Inventory/StockPositions",
    DeletedEntityType.GOODS_DELIVERIES: "sync/SalesOrder/GoodsDeliveries",
    DeletedEntityType.GOODS_DELIVERY_LINES: "sync/SalesOrder/GoodsDeliveryLines",
    DeletedEntityType.GL_CLASSIFICATIONS: "sync/Financial/GLClassifications",
}

_BY_PATH: Final = {path: kind for kind, path in SYNC_PATH_BY_ENTITY_TYPE.items()}


def entity_type_for_sync_path(path: str) -> DeletedEntityType | None:
    """The deletion entity type reported for rows of sync endpoint ``path``, or None when Exact has none."""
    return _BY_PATH.get(path.strip("/"))
