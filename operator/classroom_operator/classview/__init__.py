"""The class view: a small web page for teachers and school administrators that shows, live,
the classrooms a person may see (docs/class-view.md)."""
