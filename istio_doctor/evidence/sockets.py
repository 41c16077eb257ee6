"""Parse listening sockets from ``netstat``, ``ss`` or ``/proc/net/tcp[6]`` run in a pod.

Since Istio 1.10 the sidecar forwards inbound traffic to the pod IP, not to 127.0.0.1, so an
application bound only to localhost becomes unreachable through the mesh (503 UF / connection
refused) while it worked before injection. The only way to see that is the pod's own socket
table, from whichever tool the image has: ``netstat -tln`` (net-tools), ``ss -ltn``
(iproute2), or ``cat /proc/net/tcp /proc/net/tcp6`` which every Linux container can read.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel

__all__ = ["ListeningSocket", "binds_only_localhost", "parse_listening_sockets"]


class ListeningSocket(BaseModel):
    proto: str  # "tcp" or "tcp6"
    local_address: str  # "0.0.0.0", "127.0.0.1", "::", "::1", "*", "10.1.2.3"
    port: int
    state: str  # "LISTEN" for the sockets this returns from /proc; as printed otherwise
    process: str | None = None  # netstat -p / ss -p column when present

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.local_address.split("%", 1)[0]).is_loopback
        except ValueError:
            return self.local_address == "localhost"


_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
    "0B": "CLOSING",
}


def _split_host_port(addr: str) -> tuple[str, int] | None:
    """``0.0.0.0:8080``, ``:::8080``, ``[::1]:8080``, ``*:8080``, ``127.0.0.1%lo:53``."""
    m = re.match(r"^\[([^\]]*)\]:(\d+|\*)$", addr) or re.match(r"^(.*):(\d+|\*)$", addr)
    if not m or m.group(2) == "*":
        return None
    host = m.group(1) or "*"
    if host == "::" or host == "":
        host = "::"
    return host, int(m.group(2))


def _hex_to_ip(hexaddr: str) -> str:
    """/proc/net/tcp stores addresses as 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # IPv6: four 32-bit words, each byte-reversed.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    ip = ipaddress.IPv6Address(words)
    return str(ip.ipv4_mapped) if ip.ipv4_mapped else str(ip)


def _parse_proc_line(parts: list[str], proto: str) -> ListeningSocket | None:
    # "  0: 00000000:07E8 00000000:0000 0A ..." -> parts[1] local, parts[3] state
    local, state = parts[1], parts[3].upper()
    host_hex, port_hex = local.split(":")
    return ListeningSocket(
        proto=proto, local_address=_hex_to_ip(host_hex), port=int(port_hex, 16), state=_TCP_STATES.get(state, state)
    )


def parse_listening_sockets(text: str) -> list[ListeningSocket]:
    """Listening TCP sockets from netstat / ss / /proc/net/tcp(6) text. Unknown lines are skipped."""
    out: list[ListeningSocket] = []
    proc_proto: str | None = None
    ss_has_netid = False
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        parts = s.split()
        # /proc/net/tcp header: "sl local_address rem_address st ..."; tcp6 has 32-hex addresses.
        if parts[0] == "sl" and "local_address" in parts:
            proc_proto = None  # decided per row from the address width
            continue
        if re.match(r"^\d+:$", parts[0]) and len(parts) > 3 and re.match(r"^[0-9A-Fa-f]+:[0-9A-Fa-f]{4}$", parts[1]):
            proc_proto = "tcp6" if len(parts[1].split(":")[0]) == 32 else "tcp"
            try:
                sock = _parse_proc_line(parts, proc_proto)
            except ValueError:
                continue
            if sock.state == "LISTEN":
                out.append(sock)
            continue
        # ss header: "State Recv-Q Send-Q Local Address:Port ..." (optionally "Netid" first)
        if parts[0] in ("State", "Netid"):
            ss_has_netid = parts[0] == "Netid"
            continue
        # netstat: "tcp  0  0 0.0.0.0:8080  0.0.0.0:*  LISTEN  1/app"
        if parts[0] in ("tcp", "tcp6", "tcp4") and len(parts) >= 6 and re.match(r"^\d+$", parts[1]):
            hp = _split_host_port(parts[3])
            if hp is None:
                continue
            state = parts[5] if not re.match(r"^\d+/", parts[5]) else ""
            if state != "LISTEN":
                continue
            proc = parts[6] if len(parts) > 6 and parts[6] != "-" else None
            out.append(
                ListeningSocket(
                    proto="tcp6" if parts[0] == "tcp6" else "tcp", local_address=hp[0], port=hp[1],
                    state=state, process=proc,
                )
            )
            continue
        # ss rows: "[Netid] State Recv-Q Send-Q Local:Port Peer:Port [Process]"
        idx = 1 if (ss_has_netid or parts[0] in ("tcp", "tcp6")) else 0
        if len(parts) >= idx + 5 and parts[idx] in ("LISTEN", "UNCONN") and re.match(r"^\d+$", parts[idx + 1]):
            if parts[idx] != "LISTEN" or (idx == 1 and not parts[0].startswith("tcp")):
                continue
            hp = _split_host_port(parts[idx + 3])
            if hp is None:
                continue
            host = hp[0]
            proto = "tcp6" if (":" in host or host.startswith("[")) else "tcp"
            process = " ".join(parts[idx + 5 :]) or None
            out.append(ListeningSocket(proto=proto, local_address=host, port=hp[1], state="LISTEN", process=process))
    return out


def binds_only_localhost(sockets: list[ListeningSocket], port: int) -> bool | None:
    """True if every listener on ``port`` is loopback-only; None if nothing listens on it.

    None matters: "not listening at all" is a different finding (wrong port / app down) from
    "listening on 127.0.0.1 only" (unreachable through the sidecar since Istio 1.10).
    """
    on_port = [s for s in sockets if s.port == port and s.state == "LISTEN"]
    if not on_port:
        return None
    return all(s.is_loopback for s in on_port)
