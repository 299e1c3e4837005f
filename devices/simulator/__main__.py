"""``python -m devices.simulator ...``: the simulator's command line without Django."""

from __future__ import annotations

import sys

from devices.simulator.run import main

sys.exit(main())
