"""Notifications: an outbox written in the same transaction as the change it reports, and
the texts people read, in French, Dutch and English."""

from coffre.notify.outbox import (
    Notification,
    NotificationKind,
    Recipient,
    enqueue,
    list_notifications,
    render,
)

__all__ = [
    "Notification",
    "NotificationKind",
    "Recipient",
    "enqueue",
    "list_notifications",
    "render",
]
