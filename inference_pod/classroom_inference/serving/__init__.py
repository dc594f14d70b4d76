"""The serving process: streams in, batched engine, anonymised labels out."""
