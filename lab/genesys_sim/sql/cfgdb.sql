-- Configuration Database schema (simulated Genesys install). Idempotent.
-- One table per configuration object type; `name` is the object's key.

CREATE TABLE IF NOT EXISTS cfg_person (
    dbid serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    tenant_dbid int NOT NULL DEFAULT 1,
    state int NOT NULL DEFAULT 1,
    data jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cfg_dn (
    dbid serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    tenant_dbid int NOT NULL DEFAULT 1,
    state int NOT NULL DEFAULT 1,
    data jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cfg_agent_login (
    dbid serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    tenant_dbid int NOT NULL DEFAULT 1,
    state int NOT NULL DEFAULT 1,
    data jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cfg_application (
    dbid serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    tenant_dbid int NOT NULL DEFAULT 1,
    state int NOT NULL DEFAULT 1,
    data jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS cfg_host (
    dbid serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    tenant_dbid int NOT NULL DEFAULT 1,
    state int NOT NULL DEFAULT 1,
    data jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
