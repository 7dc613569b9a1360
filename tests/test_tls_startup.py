"""What ``connect --tls -q`` pays for: nothing that only the ``tls`` event or rich would use.

``connect --tls --insecure -q`` moving data prints nothing but the peer's
bytes, so it must not import rich (the human renderer) nor cryptography
(the chain described in the ``tls`` event), nor load the system trust
store (the verdict ``--insecure`` predicts for that event).  Whatever
changes the output or the exit status is still worked out: the one-line
errors, --min-days, and every event when --json or a human trace asks.
Every run is a subprocess against a real TLS server on loopback.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import child_env, free_port, have, on_terminal, run
from tests.tls_pki import Pki, serving, socat_echo

pytestmark = pytest.mark.skipif(not (have("socat") and have("openssl")),
                                reason="needs socat and openssl (installed by .ci/run)")

#: ``python -c``: run netprobe as ``python -m netprobe`` does and, at exit,
#: write the names of every module loaded to the file named first.
MODULES_AT_EXIT = """
import atexit, runpy, sys
where = sys.argv.pop(1)
def dump():
    with open(where, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
atexit.register(dump)
sys.argv[0] = "netprobe"
runpy.run_module("netprobe", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def modules_after(tmp_path: Path, *args: str, stdin: bytes = b"") -> tuple[set[str], bytes]:
    """The modules ``netprobe ARGS`` had loaded when it exited, and its stdout (it must succeed)."""
    where = tmp_path / "modules.txt"
    proc = subprocess.run([sys.executable, "-c", MODULES_AT_EXIT, str(where), *args],
                          input=stdin, capture_output=True, env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return set(where.read_text().split()), proc.stdout


def heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in ("rich", "cryptography")}


def test_insecure_quiet_imports_neither_rich_nor_cryptography(pki: Pki, tmp_path: Path) -> None:
    with socat_echo(pki.path("valid")) as port:
        modules, out = modules_after(tmp_path, "connect", "127.0.0.1", str(port), "--tls",
                                     "--insecure", "-q", stdin=b"ping\n")
        # The control: the same run with a trace for people loads both.
        shown, _ = modules_after(tmp_path, "connect", "127.0.0.1", str(port), "--tls",
                                 "--insecure", stdin=b"ping\n")
    assert out == b"ping\n"
    assert "ssl" in modules and "netprobe.tls.channel" in modules
    assert not heavy(modules)
    assert {"rich", "cryptography"} <= {name.split(".")[0] for name in shown}


def test_verified_quiet_does_not_describe_the_chain(pki: Pki, tmp_path: Path) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path("valid")) as port:
        modules, out = modules_after(tmp_path, "connect", "localhost", str(port), "-4",
                                     "--tls", "--ca", ca, "-q", stdin=b"ping\n")
    assert out == b"ping\n"
    assert not heavy(modules)


# --- the trust store under --insecure ----------------------------------------------------


def opened_files(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[Any, str]:
    """(the result of ``netprobe ARGS``, the paths it passed to open/openat) under strace."""
    log = tmp_path / "strace.log"
    result = run(*args, input=b"ping\n", env=env,
                 prefix=["strace", "-f", "-qq", "-e", "trace=open,openat", "-o", str(log)])
    return result, log.read_text()


@pytest.mark.skipif(not have("strace"), reason="needs strace")
def test_insecure_quiet_does_not_load_the_trust_store(pki: Pki, tmp_path: Path) -> None:
    # The system store, made ours: OpenSSL's default paths follow SSL_CERT_FILE
    # and SSL_CERT_DIR, so the file it would read has a name nobody else opens.
    bundle = tmp_path / "system-bundle.pem"
    bundle.write_bytes((pki.root / "ca.pem").read_bytes())
    (tmp_path / "no-hashed-dir").mkdir()
    env = {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(tmp_path / "no-hashed-dir")}
    with socat_echo(pki.path("valid")) as port:
        quiet, quiet_log = opened_files(tmp_path, "connect", "127.0.0.1", str(port), "--tls",
                                        "--insecure", "-q", env=env)
        shown, shown_log = opened_files(tmp_path, "connect", "127.0.0.1", str(port), "--tls",
                                        "--insecure", "--json", env=env)
    assert quiet.status == 0 and quiet.out == "ping\n", quiet.err
    assert str(bundle) not in quiet_log
    # --json shows the prediction: the store is loaded for it, and it is the
    # system's default paths (here: our CA), so the chain would verify.
    assert shown.status == 0, shown.err
    assert str(bundle) in shown_log
    [tls] = [e for e in shown.events() if e["event"] == "tls"]
    assert tls["verification"] == "predicted"
    assert tls["verified"] is True and tls["verify_error"] is None


def test_insecure_prediction_still_uses_the_system_store(pki: Pki) -> None:
    # The same server without our CA in the default paths: it would fail, as before.
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "127.0.0.1", str(port), "--tls", "--insecure", "-z", "--json")
    assert result.status == 0, result.err
    [tls] = [e for e in result.events() if e["event"] == "tls"]
    assert tls["verification"] == "predicted" and tls["verified"] is False
    assert tls["verify_error"]["code"] == "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"


def test_the_context_without_a_store_is_create_default_contexts() -> None:
    import ssl

    from netprobe.tls.context import TlsOptions, client_context, load_deferred_trust

    ours = client_context(TlsOptions(insecure=True))
    python = ssl.create_default_context()
    python.check_hostname = False
    python.verify_mode = ssl.CERT_NONE
    for name in ("protocol", "verify_mode", "check_hostname", "verify_flags", "options",
                 "minimum_version", "maximum_version", "post_handshake_auth",
                 "keylog_filename", "security_level"):
        assert getattr(ours, name) == getattr(python, name), name
    assert ours.get_ciphers() == python.get_ciphers()
    assert ours.cert_store_stats()["x509_ca"] == 0
    load_deferred_trust(ours)
    load_deferred_trust(ours)  # once only
    assert ours.cert_store_stats() == python.cert_store_stats()


# --- what -q prints is what it printed: results, errors, payload -----------------------


def quiet(*args: str, port: int, host: str = "127.0.0.1") -> tuple[int, str, str]:
    result = run("connect", host, str(port), "-4", "--tls", *args, "-q", input=b"ping\n")
    return result.status, result.out, result.err


@pytest.mark.parametrize("name, status, line", [
    ("self_signed", 7, "self-signed certificate (depth 0)"),
    ("unknown_ca", 7, "unable to get local issuer certificate (depth 0)"),
    ("expired", 7, "certificate has expired (depth 0)"),
    ("wrong_host", 7, "Hostname mismatch, certificate is not valid for 'localhost'. (depth 0)"),
])
def test_quiet_verification_failures_are_one_line(pki: Pki, name: str, status: int,
                                                  line: str) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path(name)) as port:
        code, out, err = quiet("--ca", ca, port=port, host="localhost")
    assert (code, out) == (status, "")
    assert err.startswith(f"netprobe: tls localhost {port}: X509_V_ERR_"), err
    assert err.endswith(f"{line}\n") and err.count("\n") == 1, err


def test_quiet_min_days_still_checks_the_chain(pki: Pki) -> None:
    with socat_echo(pki.path("expiring")) as port:
        short = quiet("--insecure", "--min-days", "7", port=port)
        fine = quiet("--insecure", "--min-days", "3", port=port)
    assert short[:2] == (6, "")
    assert re.fullmatch(rf"netprobe: tls 127\.0\.0\.1 {port}: MIN_DAYS: certificate at depth 0 "
                        r"\(OU=Testing cert #[^)]*,O=trustme v[0-9.]+\) expires in 5 days, "
                        r"within --min-days 7\n", short[2]), short[2]
    assert fine == (0, "ping\n", "")


def test_quiet_handshake_failures_are_one_line() -> None:
    port = free_port()
    argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", "SYSTEM:echo hello"]
    with serving(argv, port):
        code, out, err = quiet("--insecure", "--timeout", "5", port=port)
    assert (code, out) == (7, "")
    assert err.startswith(f"netprobe: tls 127.0.0.1 {port}: ") and err.count("\n") == 1, err
    assert "not TLS" in err


def test_quiet_json_still_has_the_whole_event(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "127.0.0.1", str(port), "--tls", "--insecure", "-q", "--json",
                     input=b"ping\n")
    assert result.status == 0, result.err
    [tls] = [e for e in result.events() if e["event"] == "tls"]
    assert tls["chain"] and tls["chain"][0]["sha256"]
    assert tls["verification"] == "predicted" and tls["verify_error"] is not None


def test_quiet_on_a_terminal_still_makes_the_payload_safe(pki: Pki, tmp_path: Path) -> None:
    # On a terminal the bytes are shown safe, their escapes dim when rich says
    # colour is on: that is the rich renderer's, as before.
    payload = tmp_path / "payload"
    payload.write_bytes(b"\x1b[31mred\n")
    port = free_port()
    argv = ["socat", "-U", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,"
            f"cert={pki.path('valid')},verify=0", f"OPEN:{payload},rdonly"]
    with serving(argv, port):
        status, screen = on_terminal("connect", "127.0.0.1", str(port), "--tls", "--insecure",
                                     "-q", env={"TERM": "xterm-256color"},
                                     stdin=subprocess.DEVNULL)
    assert status == 0, screen
    assert screen == "\x1b[2m\\x1b\x1b[22m[31mred\r\n"  # the escape shown, dim


# --- the SNI passed to ssl without the idna codec --------------------------------------------


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "Example.COM", "a.b.", "::1",
                                  "x" * 63 + ".test", "x" * 64 + ".test", "a..b", ".a",
                                  "x" * 64, ""])
def test_ascii_name_is_what_the_idna_codec_makes(name: str) -> None:
    from netprobe.tls.channel import ascii_name

    given = ascii_name(name)
    if isinstance(given, bytes):
        assert given == name.encode("idna")
    else:  # left to the codec, which refuses it
        assert given == name
        with pytest.raises(UnicodeError):
            name.encode("idna")


def test_a_name_not_ascii_is_left_to_the_codec() -> None:
    from netprobe.tls.channel import ascii_name

    assert ascii_name("bücher.test") == "bücher.test"
    assert ascii_name(None) is None
