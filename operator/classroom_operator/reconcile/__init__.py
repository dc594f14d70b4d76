"""One pass of a ClassroomModel: read the indexes, call the pure planners, apply their writes."""
