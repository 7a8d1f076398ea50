"""Live speech for Hotline: the AudioSocket server, the engine (vosk) and prefill extraction.

- :mod:`asr.digits`, :mod:`asr.extract`: pure text → ticket prefill (type, orders, phones).
- :mod:`asr.context`: the :class:`~asr.context.PrefillContext` port ``web`` implements.
- :mod:`asr.engine`, :mod:`asr.model_store`: the engine interface, vosk, model folders.
- :mod:`asr.audiosocket`: the Asterisk AudioSocket server publishing ``asr`` and
  ``ticket_prefill`` on TOPIC_ASR.
- :mod:`asr.play_audiosocket`: plays a recording into an AudioSocket server, as Asterisk would.

Nothing here imports ``web``; vosk is imported only when an engine is created.
"""
