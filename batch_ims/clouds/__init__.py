"""Everything that varies by cloud: one package per cloud family, chosen once per run."""
