"""The thin runner: a discord.py bot that loads our cogs, and command-line tools that need no Discord."""
