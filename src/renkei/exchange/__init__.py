"""The exchange hub: the query flow (照会応答) in the X-Road message protocol for REST."""
