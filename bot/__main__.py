"""``python -m bot``: run the bot, or a command-line tool (see ``python -m bot --help``)."""

from .cli import main

raise SystemExit(main())
