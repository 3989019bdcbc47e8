"""Built-in SQL templates (a project overrides any of them by name in its own sql_templates/)."""
