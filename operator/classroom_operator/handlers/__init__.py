"""kopf handlers: indexes, wake-ups, the engine loop; registered into a registry the caller owns."""
