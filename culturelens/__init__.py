"""culturelens: how language models judge cultural values across countries (WVS wave 7)."""

__version__ = "0.1.0"
