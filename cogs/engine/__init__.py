"""The engine our cogs share, one job per module, in the order a ``/say`` flows through them.

``guild_player`` (queue) → ``utterance`` (download task) → ``asyncflow_client`` (HTTP) →
``speech_pipeline`` (``wav_reader`` → ``pcm_convert``) → ``audio_source`` (frames for discord.py's
player, which encodes them to Opus). ``engine`` wires them together from ``settings``.
"""
