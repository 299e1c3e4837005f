"""Simulated DSM / WS-Scan scan devices (DESIGN.md "Device": ours is ``devices/simulator``).

``device`` holds the state (paper, jobs, conditions) as a plain class; ``pages`` draws synthetic
pages; ``scanner`` maps state to WS-Scan dataclasses; ``server`` is the aiohttp HTTP face;
``events`` the WS-Eventing source; ``push`` the WS-DSP client; ``control`` the JSON control API;
``panel`` the front panel, signing users in through the ``panel_directory`` interface that the
program starting the simulator injects (``panel_ldap``: the LDAP one, bound as the user); ``run``
starts N devices in one event loop and is the command line. Nothing here imports more of OpenDSM
than ``devices.protocols``: ``manage.py simulate_devices`` (``smc.simulation``) brings the rest.
"""
