"""The run log: one Parquet row per config x device run. `record` builds a row's identity and
config columns; `store` holds the schema, atomic append, load, validation and import."""
