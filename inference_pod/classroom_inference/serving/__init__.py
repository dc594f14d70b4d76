"""The serving process: streams in, batched engine, pseudonymous labels out."""
