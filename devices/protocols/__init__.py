"""Wire formats of DSM and WSD scanning, as pure functions over dataclasses and lxml.

Nothing in this package imports Django: the scan server, the console and the simulator all
share it, and it can be tested on its own. ``namespaces`` is the one namespace map;
``xmlsafe`` the one hardened parser; ``soap`` the envelope; ``mtom`` the attachments.
"""
