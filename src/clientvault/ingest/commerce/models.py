"""The commerce tables fed from the event log by the commerce consumer: the catalogue's
products, orders with their lines, and refunds."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId

Money = Numeric(12, 2)


class Product(Base):
    """An item of the catalogue, as seen in e-commerce events."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")


class Order(Base):
    """A completed order (``Order Completed``), later possibly refunded or returned."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_time", "customer_id", "placed_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(24), default="completed")
    placed_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total: Mapped[Decimal] = mapped_column(Money)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class OrderItem(Base):
    """One line of an order."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("products.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Money)
    returned_quantity: Mapped[int] = mapped_column(default=0)


class OrderRefund(Base):
    """One refund of an order (``Order Refunded``), once per event so replays change nothing."""

    __tablename__ = "order_refunds"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(BigIntId, unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    refunded_at: Mapped[datetime]
