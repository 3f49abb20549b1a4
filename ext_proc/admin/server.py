"""Run the admin application on the service's event loop."""

from __future__ import annotations

from aiohttp import web

from ext_proc.config import split_host_port


class AdminServer:
    def __init__(self, app: web.Application, address: str) -> None:
        self._app = app
        self._host, self._port = split_host_port(address)
        self._runner: web.AppRunner | None = None
        self.port = self._port

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # Report the port actually bound, for callers that log or advertise it.
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
