"""Websocket ``ws/jobs/``: signed-in console users receive job and device events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.broadcast import JOBS_GROUP
from core.roles import can


class JobsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await database_sync_to_async(can)(user, "view"):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(JOBS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(JOBS_GROUP, self.channel_name)

    async def smc_event(self, event: dict[str, Any]) -> None:
        # ``origin`` names the sending process for the scan servers' relay; browsers need not know.
        await self.send_json({k: v for k, v in event.items() if k not in ("type", "origin")})
