"""``python -m netprobe`` and the ``netprobe`` script: start-up, then the command line."""

from __future__ import annotations


def main() -> None:
    # The collector is off until the command's renderer exists (netprobe.startup
    # says why); netprobe.cli, click and rich are imported after this line.
    from netprobe import startup

    startup.pause()
    from netprobe.cli import main as run_command_line

    run_command_line()


if __name__ == "__main__":
    main()
