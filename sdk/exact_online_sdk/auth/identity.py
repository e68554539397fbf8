"""Who a consent was given by: the Exact user and the divisions (companies) its token reaches.

A re-consent replaces a chain the workers depend on; one given by another user, or by a user who cannot reach the
same divisions, would quietly point every worker at other books. The bootstrap reads :func:`read_identity` with
the new token and compares it with the identity recorded in the chain it replaces (:func:`check_same_identity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConsentMismatch

if TYPE_CHECKING:
    import httpx

    from ..clock import Clock
    from .token import Token

__all__ = ["ExactIdentity", "check_same_identity", "read_identity"]


@dataclass(frozen=True, slots=True)
class ExactIdentity:
    """The consenting user's ``UserID`` and the division codes the token can reach (sorted)."""

    user_id: str
    divisions: tuple[int, ...]

    @classmethod
    def of(cls, token: Token) -> ExactIdentity | None:
        """The identity recorded in ``token`` (None for a chain consented before identities were recorded)."""
        return cls(token.user_id, token.divisions) if token.user_id else None


def read_identity(
    base_url: str, access_token: str, *, clock: Clock | None = None, http_client: httpx.Client | None = None
) -> ExactIdentity:
    """``current/Me``'s ``UserID`` and the codes of ``system/Divisions``, read with ``access_token`` (over
    ``http_client`` when given, e.g. the token endpoint's)."""
    from ..client import ExactOnlineClient

    with ExactOnlineClient(
        base_url=base_url, access_token=access_token, clock=clock, http_client=http_client
    ) as client:
        me = client.get("current/Me", {"$select": "UserID,CurrentDivision"})
        row = me[0] if isinstance(me, list) and me else me
        user = str(row.get("UserID") or "") if isinstance(row, dict) else ""
        current = row.get("CurrentDivision") if isinstance(row, dict) else None
        if not user or not isinstance(current, int):
            from .errors import TokenEndpointError

            raise TokenEndpointError("current/Me did not name the consenting user and division")
        codes = {int(r["Code"]) for r in client.iter_rows("system/Divisions", {"$select": "Code"}, division=current)}
    return ExactIdentity(user, tuple(sorted(codes | {current})))


def check_same_identity(stored: ExactIdentity | None, new: ExactIdentity) -> None:
    """Raise :class:`ConsentMismatch` unless ``new`` is the same user and reaches every division of ``stored``
    (more divisions are fine). A chain without a recorded identity accepts any consent (and records it)."""
    if stored is None:
        return
    if stored.user_id != new.user_id:
        raise ConsentMismatch("the consent was given by another Exact user than the one of the chain it replaces")
    lost = sorted(set(stored.divisions) - set(new.divisions))
    if lost:
        raise ConsentMismatch(
            f"the new consent cannot reach division(s) {', '.join(map(str, lost))} of the chain it replaces"
        )
