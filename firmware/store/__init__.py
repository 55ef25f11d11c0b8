# Flash: atomic files (store), the per-port session journal, the durable outbox of
# records, and the power-loss glue between them and the core (persist).
