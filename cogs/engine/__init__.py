"""The engine our cogs share, grouped in folders by job, in the order a ``/say`` flows through them.

``playback/`` (one owner per server: voice, queue, announcer; each text an ``utterance``) →
``asyncflow/`` (HTTP to AsyncFlow) → ``audio/`` (``wav`` → ``convert`` → ``source``: frames for
discord.py's player, which encodes them to Opus). ``text/`` turns a message into words to say,
``store/`` keeps what servers and members chose, and ``engine`` wires it all from ``config``.
"""
