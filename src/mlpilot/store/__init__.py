"""Store: the workspace's metadata database, content-addressed objects and audit log.

Independent of the ML layers: it keeps bytes and records.
"""
