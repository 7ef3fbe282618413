"""Rehber's app process: channel gateway, web chat, NLG endpoint (and later the staff console)."""
