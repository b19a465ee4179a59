-- docker-compose: the schema registry's own database beside the system's (see infra/registry/registry.ts).
CREATE DATABASE schema_registry;
