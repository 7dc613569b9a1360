"""``python -m netprobe`` and the ``netprobe`` script: start-up, then the command line."""

from __future__ import annotations


def main() -> None:
    # The collector is off until the command's renderer exists (netprobe.startup
    # says why); netprobe.cli, click and rich are imported after this line.
    import sys

    from netprobe import startup, stdio

    startup.pause()
    startup.standard_outputs()  # >&- or 2>&-: /dev/null, not None (netprobe.startup)
    # A full stdout or stderr inherited non-blocking is waited for (netprobe.stdio).
    stdio.wait_when_full()
    args = sys.argv[1:]
    # A plain command line runs without click (netprobe.quick); anything else, click's.
    from netprobe.quick import run_quick

    status = run_quick(args)
    if status is None:
        from netprobe.cli import main as run_command_line

        run_command_line(args)
    startup.exit_with(status)


if __name__ == "__main__":
    main()
