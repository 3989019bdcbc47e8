"""The starter project written by `flinksql-gen init` (data files only)."""
