"""The columnar backend: the loaded policy compiled once into a relational plan that DuckDB runs."""
