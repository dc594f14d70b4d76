"""A real RTSP server for stream tests: mediamtx built from its pinned Go module, fed by FFmpeg
publishers that a test can kill and restart to play a camera that dies and comes back."""
