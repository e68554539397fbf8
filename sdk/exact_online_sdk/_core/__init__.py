"""Sans-IO core shared by the sync and async clients: no sockets, no sleeping, no clocks of its own."""
