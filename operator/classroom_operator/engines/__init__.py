"""Engines: which GPU classes the nodes have, what each engine is (its fingerprint), how it is
built (build Jobs and what they report), where built engines are kept (the catalogue), and what
to build next (planning, node changes). Pure: nothing here does I/O."""
