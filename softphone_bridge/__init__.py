"""SIP endpoints on pyVoIP: the IVR (``ivr/``: menu machine, session, prompts; ``sip.py``:
the thin pyVoIP adapter; ``audio.py``: synthesis, conversion, speech detection)."""
