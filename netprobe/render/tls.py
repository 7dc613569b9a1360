"""Human output of TLS: the handshake in the style of ``curl -v``, the chain as aligned lines.

A mixin for the command renderers (``ConnectHuman``, ``ListenHuman``): it
adds the ``on_tls*`` handlers and uses their ``trace`` (stderr, dropped
with -q).  Days left are coloured on a terminal: red under 7, yellow under
30 (rich drops the colour off a terminal and with NO_COLOR).

Every certificate field, the SANs, the ALPN protocol and SNI name a peer
chose, and the messages quoting them are outside text: they reach rich
through ``outside`` (``render.safe``), escapes shown dim, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text

from netprobe.render.safe import rich_text as outside
from netprobe.safe import safe_line

if TYPE_CHECKING:
    from netprobe.schema import (
        CertificateFields,
        KeyFields,
        TlsCertificateEvent,
        TlsEvent,
        TlsStartedEvent,
    )


RED_DAYS = 7
YELLOW_DAYS = 30


def days_style(days: int) -> str:
    if days < RED_DAYS:
        return "bold red"
    if days < YELLOW_DAYS:
        return "yellow"
    return "green"


def days_text(cert: CertificateFields) -> Text:
    days = cert["days_left"]
    if cert["seconds_left"] < 0:
        return Text(f"expired {-days} days ago" if days < -1 else "expired",
                    style=days_style(days))
    return Text(f"{days} days left", style=days_style(days))


def key_text(key: KeyFields) -> str:
    parts = [key["type"]]
    if key.get("curve"):
        parts.append(key["curve"])
    if key.get("bits"):
        parts.append(f"{key['bits']} bits")
    return " ".join(parts)


def chain_text(chain: list[CertificateFields]) -> Text:
    """One block per certificate the server sent, depth 0 (the server's own) first.

    Plain aligned lines rather than a rich Table: a table squeezes its
    narrow columns (the depth, the labels) to nothing when a fingerprint is
    wider than the terminal, and the console crops what is left.  Text lines
    on netprobe's consoles (``soft_wrap``) are never cut: a fingerprint is
    compared character by character, a shortened one is worse than none.
    """
    text = Text(f"chain sent by the server ({len(chain)} "
                f"certificate{'s' * (len(chain) != 1)})")
    for depth, cert in enumerate(chain):
        rows: list[tuple[str, Text]] = [
            ("subject", outside(cert["subject"], style="bold")),
            ("issuer", Text.assemble(outside(cert["issuer"]),
                                     "  (self-signed)" if cert["self_signed"] else "")),
        ]
        if cert["san"]:
            rows.append(("san", outside(", ".join(cert["san"]))))
        rows.append(("valid", Text.assemble(f"{cert['not_before']} .. {cert['not_after']}  ",
                                            days_text(cert))))
        rows.append(("key", Text(f"{key_text(cert['key'])}, signed "
                                 f"{cert['signature_algorithm']}")))
        rows.append(("sha256", Text(cert["sha256"])))
        rows.append(("serial", outside(cert["serial"])))
        for number, (label, value) in enumerate(rows):
            text.append("\n")
            text.append(f"{depth if number == 0 else '':>2} ", style="bold")
            text.append(f"{label:<8}", style="dim")
            text.append_text(value)
    return text


class TlsView:
    """``on_tls*`` handlers for a Human renderer (uses its ``trace``)."""

    # Provided by Human (annotations only: the mixin must not shadow them).
    settings: Any
    trace: Callable[..., None]

    def on_tls_started(self, fields: TlsStartedEvent) -> None:
        offered = ",".join(fields["alpn_offered"])
        line = Text.assemble(("TLS handshake", "bold"),
                             f"  SNI {safe_line(fields['sni'] or '(none)')}")
        if offered:
            line.append(f"  ALPN {safe_line(offered)} offered")
        if not fields["verify"]:
            line.append("  --insecure: not verifying", style="yellow")
        self.trace(line, detail=True)

    def on_tls(self, fields: TlsEvent) -> None:
        if fields["version"]:
            # Also when verification stopped the handshake (what had been
            # agreed is shown above the failure), then not in green.
            failed = fields.get("verification") == "handshake" and not fields["verified"]
            line = Text.assemble(("TLS ", "bold" if failed else "bold green"),
                                 (fields["version"], "bold"), f"  {fields['cipher'] or '?'}")
            if fields.get("cipher_bits"):
                line.append(f" ({fields['cipher_bits']} bits)")
            line.append(f"  ALPN {safe_line(fields['alpn'] or '(none)')}")
            line.append(f"  SNI {safe_line(fields['sni'] or '(none)')}")
            line.append(f"  {fields['elapsed_ms']:.1f} ms", style="dim")
            self.trace(line)
        if fields["chain"]:
            self.trace(chain_text(fields["chain"]))
        self.trace(self.verification_text(fields))

    @staticmethod
    def verification_text(fields: TlsEvent) -> Text:
        error = fields["verify_error"]
        predicted = fields.get("verification") == "predicted"
        if error is None and fields["verified"]:
            what = "certificate would verify" if predicted else "certificate verified"
            line = Text(what, style="yellow" if predicted else "bold green")
            if fields.get("hostname"):
                match = fields["hostname_match"] or "?"
                line.append(f": {safe_line(fields['hostname'] or '')} matched {safe_line(match)}")
            if predicted:
                line.append(" (--insecure: not checked during the handshake)", style="dim")
            return line
        if error is None:
            if fields.get("verification") == "none" or predicted:
                return Text("certificate not verified (--insecure)", style="yellow")
            return Text("no certificate verified (the handshake failed first)", style="dim")
        head = "verification would fail" if predicted else "certificate verification failed"
        depth = f" at depth {error['depth']}" if error["depth"] is not None else ""
        line = Text.assemble((head + ": ", "bold red"), (error["code"], "bold"),
                             f" ({safe_line(error['message'])}){depth}")
        if predicted:
            line.append("  --insecure: continuing", style="yellow")
        return line

    # --- listen --tls -------------------------------------------------------------

    def on_tls_certificate(self, fields: TlsCertificateEvent) -> None:
        if fields["ephemeral"]:
            self.trace(Text.assemble(
                ("TLS ", "bold"), "ephemeral self-signed certificate for ",
                outside(", ".join(fields["names"]), "bold")))
        else:
            self.trace(Text.assemble(("TLS ", "bold"),
                                     f"certificate {safe_line(fields['file'])}: ",
                                     outside(fields["subject"], "bold")))
        self.trace(Text.assemble("    sha256 ", (fields["sha256"] or "?", "bold cyan")))
