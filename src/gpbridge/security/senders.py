"""Who an HL7 v2 sender is: MSH-3/MSH-4 mapped to a registered system client, checked against
the addresses that sender may connect from.

MSH-3 (sending application) and MSH-4 (sending facility) are text anyone can type, so a sender is
known only when the connection also comes from one of the addresses configured for it. A known
sender is then the principal of its registered client (``security.clients``) with that client's
SMART scopes — the same ``Principal`` a ``client_credentials`` token would give it — and the policy
decides as for any system client. The mapping is the setting ``mllp_senders``
(``GPBRIDGE_MLLP_SENDERS``): entries ``APP^FACILITY=client-id@address[,address...]`` separated by
``;`` or new lines, or the path of a file holding such entries (``#`` starts a comment)::

    PAS^RX1=pas-feed@10.20.0.0/24,10.20.1.7
    LAB^RX1=pathology-feed@10.30.0.9

APP and FACILITY match the first component (HD-1, namespace id) of MSH-3 and MSH-4 exactly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from gpbridge.config import Settings
from gpbridge.security.clients import find_client
from gpbridge.security.principal import Principal

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Sender:
    application: str  # MSH-3.1
    facility: str  # MSH-4.1
    client_id: str
    networks: tuple[Network, ...]

    @property
    def label(self) -> str:
        return f"{self.application}^{self.facility}"

    def allows(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class Identified:
    """The outcome of identifying a sender: a principal, or the reason there is none."""

    principal: Principal | None
    reason: str  # why refused; for a known sender, "sender APP^FACILITY"
    sender: Sender | None = None


class SenderMap:
    def __init__(self, senders: tuple[Sender, ...] = ()) -> None:
        self.senders = {(s.application, s.facility): s for s in senders}

    def __len__(self) -> int:
        return len(self.senders)

    def identify(self, settings: Settings, application: str, facility: str, address: str) -> Identified:
        """The registered client sending as MSH-3 ``application`` / MSH-4 ``facility`` from ``address``."""
        label = f"{application}^{facility}"
        sender = self.senders.get((application, facility))
        if sender is None:
            return Identified(None, f"unknown sender {label} (not in mllp_senders)")
        if not sender.allows(address):
            return Identified(None, f"sender {label} may not send from {address}", sender)
        client = find_client(settings, sender.client_id)
        if client is None:
            return Identified(None, f"sender {label}: client {sender.client_id} is not registered", sender)
        principal = Principal(sender.client_id, kind="system", scopes=client.scopes, client_id=client.client_id,
                              name=client.name or None)
        return Identified(principal, f"sender {label}", sender)


def load_senders(settings: Settings) -> SenderMap:
    """The mapping configured in ``mllp_senders``; ``ValueError`` naming the bad entry."""
    configured = settings.mllp_senders.strip()
    if not configured:
        return SenderMap()
    if "=" in configured:
        return parse_senders(configured, "mllp_senders")
    path = Path(configured)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"mllp_senders: cannot read {path}: {exc.strerror or exc}") from None
    return parse_senders(text, str(path))


def parse_senders(text: str, where: str) -> SenderMap:
    senders: list[Sender] = []
    seen: set[tuple[str, str]] = set()
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    entries = [e.strip() for line in lines for e in line.split(";")]
    for entry in filter(None, entries):
        sender = _parse_entry(entry, where)
        key = (sender.application, sender.facility)
        if key in seen:
            raise ValueError(f"{where}: sender {sender.label} is mapped twice")
        seen.add(key)
        senders.append(sender)
    return SenderMap(tuple(senders))


def _parse_entry(entry: str, where: str) -> Sender:
    shape = "expected APP^FACILITY=client-id@address[,address...]"
    ident, eq, target = entry.partition("=")
    client_id, at, addresses = target.partition("@")
    application, caret, facility = ident.strip().partition("^")
    if not (eq and at and caret and application.strip() and facility.strip() and client_id.strip()):
        raise ValueError(f"{where}: {entry!r}: {shape}")
    networks = []
    for address in filter(None, (a.strip() for a in addresses.split(","))):
        try:
            networks.append(ipaddress.ip_network(address, strict=False))
        except ValueError:
            raise ValueError(f"{where}: {entry!r}: {address!r} is not an IP address or CIDR network") from None
    if not networks:
        raise ValueError(f"{where}: {entry!r}: no address given ({shape})")
    return Sender(application.strip(), facility.strip(), client_id.strip(), tuple(networks))


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return ip
