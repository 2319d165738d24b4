"""The resources of the asyncio client, one per table or RPC group."""
