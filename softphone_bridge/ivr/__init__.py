"""The IVR application: a pure menu machine, the session that runs it on a call, prompts."""
