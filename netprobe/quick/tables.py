"""The quick path's table, written by ``python -m netprobe.quick.generate`` from the
click commands: do not edit (tests/test_quick.py fails when the two differ)."""

# ruff: noqa: E501 (one entry a line, however long)

from __future__ import annotations

from netprobe.quick.shape import Command, Option

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The global flags before the command (``netprobe --json connect ...``), and after it.
GROUP: dict[str, Option] = {
    '--json': ('setting', 'json', None, 'json'),
    '-q': ('setting', 'quiet', None, 'quiet'),
    '--quiet': ('setting', 'quiet', None, 'quiet'),
    '-v': ('count', 'verbose', None, 'verbose'),
    '--verbose': ('count', 'verbose', None, 'verbose'),
    '--debug': ('setting', 'debug', None, 'debug'),
}

#: The options connect and resolve have alike.
OPTIONS_OF_CONNECT_RESOLVE: dict[str, Option] = {
    '--family': ('value', 'family', ('choice', ('unspec', 'inet', 'inet6')), None),
    '--socktype': ('value', 'socktype', ('choice', ('any', 'stream', 'dgram', 'raw')), None),
    '--protocol': ('value', 'protocol', ('protocol',), None),
    '--passive': ('flag', 'passive', None, None),
    '--canonname': ('flag', 'canonname', None, None),
    '--addrconfig': ('flag', 'addrconfig', None, None),
    '--v4mapped': ('flag', 'v4mapped', None, None),
    '--numeric-host': ('flag', 'numeric_host', None, None),
    '--numeric-serv': ('flag', 'numeric_serv', None, None),
    '--ai-all': ('flag', 'ai_all', None, None),
    '--server': ('value', 'server', ('str',), None),
    '--explain': ('flag', 'explain', None, 'explain'),
}

#: The options check, connect and resolve have alike.
OPTIONS_OF_CHECK_CONNECT_RESOLVE: dict[str, Option] = {
    '-4': ('flag', 'inet4', None, None),
    '-6': ('flag', 'inet6', None, None),
    '--timeout': ('value', 'timeout', ('duration',), None),
    '--syscalls': ('setting', 'syscalls', None, 'syscalls'),
}

#: The options check and connect have alike.
OPTIONS_OF_CHECK_CONNECT: dict[str, Option] = {
    '--happy-eyeballs': ('flag', 'happy_eyeballs', None, None),
    '--he-delay': ('value', 'he_delay', ('duration',), None),
    '--wait': ('value', 'wait', ('duration',), None),
    '--interval': ('value', 'interval', ('duration',), None),
    '--sni': ('value', 'sni', ('str',), None),
    '--alpn': ('value', 'alpn', ('str',), None),
    '--ca': ('value', 'ca', ('str',), None),
    '--insecure': ('flag', 'insecure', None, None),
    '-k': ('flag', 'insecure', None, None),
    '--cert': ('value', 'cert', ('str',), None),
    '--key': ('value', 'key', ('str',), None),
    '--min-days': ('value', 'min_days', ('int', 0, None), None),
}

#: The defaults connect and resolve have alike.
DEFAULTS_OF_CONNECT_RESOLVE: dict[str, Any] = {
    'family': None,
    'socktype': None,
    'protocol': None,
    'passive': False,
    'canonname': False,
    'addrconfig': False,
    'v4mapped': False,
    'numeric_host': False,
    'numeric_serv': False,
    'ai_all': False,
    'server': None,
    'explain': False,
}

#: The defaults check, connect and resolve have alike.
DEFAULTS_OF_CHECK_CONNECT_RESOLVE: dict[str, Any] = {
    'inet4': False,
    'inet6': False,
    'timeout': 10.0,
}

#: The defaults check and connect have alike.
DEFAULTS_OF_CHECK_CONNECT: dict[str, Any] = {
    'happy_eyeballs': False,
    'he_delay': 0.25,
    'wait': None,
    'interval': 1.0,
    'sni': None,
    'alpn': None,
    'ca': None,
    'insecure': False,
    'cert': None,
    'key': None,
    'min_days': None,
}

COMMANDS: dict[str, Command] = {
    'connect': Command(
        body='netprobe.commands.connect_run:run',
        arguments=(
            ('host', True, False),
            ('port', False, False),
        ),
        options={
            **GROUP,
            **OPTIONS_OF_CONNECT_RESOLVE,
            **OPTIONS_OF_CHECK_CONNECT_RESOLVE,
            **OPTIONS_OF_CHECK_CONNECT,
            '--all': ('flag', 'all_candidates', None, None),
            '--check': ('flag', 'check', None, None),
            '-z': ('flag', 'check', None, None),
            '--send': ('value', 'send', ('str',), None),
            '--expect': ('value', 'expect', ('str',), None),
            '--count': ('value', 'probes', ('int', 0, None), None),
            '-c': ('value', 'probes', ('int', 0, None), None),
            '--max-loss': ('value', 'max_loss', ('float', 0, 100), None),
            '--resolve-each': ('flag', 'resolve_each', None, None),
            '--udp': ('flag', 'udp', None, None),
            '-u': ('flag', 'udp', None, None),
            '--seqpacket': ('flag', 'seqpacket', None, None),
            '--source': ('value', 'source', ('str',), None),
            '--raw': ('flag', 'raw', None, None),
            '--tls': ('flag', 'tls', None, None),
        },
        defaults={
            **DEFAULTS_OF_CONNECT_RESOLVE,
            **DEFAULTS_OF_CHECK_CONNECT_RESOLVE,
            **DEFAULTS_OF_CHECK_CONNECT,
            'all_candidates': False,
            'check': False,
            'send': None,
            'expect': None,
            'probes': None,
            'max_loss': None,
            'resolve_each': False,
            'udp': False,
            'seqpacket': False,
            'source': None,
            'raw': False,
            'tls': False,
        },
        groups=(
            ('hints', 'netprobe.option_values:HintOptions', ('family', 'inet4', 'inet6', 'socktype', 'protocol', 'passive', 'canonname', 'addrconfig', 'v4mapped', 'ai_all', 'numeric_host', 'numeric_serv')),
            ('tls', 'netprobe.option_values:TlsClientOptions', ('tls', 'sni', 'alpn', 'ca', 'insecure', 'cert', 'key', 'min_days')),
        ),
    ),
    'resolve': Command(
        body='netprobe.commands.resolve_run:run',
        arguments=(
            ('host', True, False),
            ('service', False, False),
        ),
        options={
            **GROUP,
            **OPTIONS_OF_CONNECT_RESOLVE,
            **OPTIONS_OF_CHECK_CONNECT_RESOLVE,
            '--all': ('flag', 'ai_all', None, None),
            '--dns': ('flag', 'dns', None, None),
        },
        defaults={
            **DEFAULTS_OF_CONNECT_RESOLVE,
            **DEFAULTS_OF_CHECK_CONNECT_RESOLVE,
            'dns': False,
        },
        groups=(
            ('hints', 'netprobe.option_values:HintOptions', ('family', 'inet4', 'inet6', 'socktype', 'protocol', 'passive', 'canonname', 'addrconfig', 'v4mapped', 'ai_all', 'numeric_host', 'numeric_serv')),
        ),
    ),
    'check': Command(
        body='netprobe.commands.check_run:run',
        arguments=(
            ('targets', False, True),
        ),
        options={
            **GROUP,
            **OPTIONS_OF_CHECK_CONNECT_RESOLVE,
            **OPTIONS_OF_CHECK_CONNECT,
            '-f': ('values', 'files', ('str',), None),
            '--file': ('values', 'files', ('str',), None),
            '--parallel': ('value', 'parallel', ('int', 1, 65536), None),
            '--invert': ('flag', 'invert', None, None),
        },
        defaults={
            **DEFAULTS_OF_CHECK_CONNECT_RESOLVE,
            **DEFAULTS_OF_CHECK_CONNECT,
            'files': (),
            'parallel': 64,
            'invert': False,
        },
        groups=(),
    ),
}
