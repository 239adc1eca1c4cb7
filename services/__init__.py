"""wirelab's protocol services: one package per protocol, each a sans-I/O core plus a thin asyncio
server/client and `python -m services.X`. Nothing here knows what a lab is."""
