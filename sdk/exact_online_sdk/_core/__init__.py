"""Sans-IO core shared by the blocking and asyncio clients: no sockets, no sleeping, no clocks of its own."""
