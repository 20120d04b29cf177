"""The Redis keys that hold input, named once: what erasure and retention must reach."""

EVENT_STREAM = "profilegraph:events"  # events waiting for the stream consumer (graph.stream)
DEAD_MESSAGES = "profilegraph:dead-messages"  # task messages no worker could decode
