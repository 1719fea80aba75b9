"""`callgate demo`: callgate in front of a small example server, driven by a scripted agent."""
