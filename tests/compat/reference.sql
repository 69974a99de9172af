-- The reference database for the client-compatibility suite: a real PostgreSQL 15 holding tables
-- shaped like kubepg's, so that every check in tests/compat can be proven against PostgreSQL
-- itself before it is run against kubepg.
--
-- Load it as a superuser while connected to the database `kubepg` (run_reference.sh creates it):
--   psql -v ON_ERROR_STOP=1 -d kubepg -f reference.sql
--
-- Shape (as kubepg serves it):
--   * schema public: one table per Kubernetes resource; every one starts with the same 14 object
--     columns (_cluster .. deleted), then typed per-kind columns, then jsonb bodies;
--     PRIMARY KEY (_cluster, uid); no foreign keys, no other indexes.
--   * schema kubepg: tables clusters and resources, views tables and changes.
--   * role kubepg (password kubepg) with SELECT on everything and nothing else.

\set ON_ERROR_STOP 1

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kubepg') THEN
    CREATE ROLE kubepg LOGIN PASSWORD 'kubepg';
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS kubepg;

-- ---------------------------------------------------------------------------------------------
-- Resource tables (schema public)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.pods (
    _cluster text NOT NULL,
    name text,
    namespace text,
    uid text NOT NULL,
    api_version text,
    kind text,
    created timestamptz,
    resource_version text,
    generation int8,
    labels jsonb,
    annotations jsonb,
    owner_references jsonb,
    finalizers jsonb,
    deleted timestamptz,
    phase text,
    node_name text,
    pod_ip text,
    host_ip text,
    start_time timestamptz,
    ready bool,
    restarts int8,
    qos_class text,
    service_account text,
    containers jsonb,
    cpu_request float8,
    memory_request float8,
    spec jsonb,
    status jsonb,
    PRIMARY KEY (_cluster, uid)
);

CREATE TABLE public.deployments (
    _cluster text NOT NULL,
    name text,
    namespace text,
    uid text NOT NULL,
    api_version text,
    kind text,
    created timestamptz,
    resource_version text,
    generation int8,
    labels jsonb,
    annotations jsonb,
    owner_references jsonb,
    finalizers jsonb,
    deleted timestamptz,
    replicas int8,
    ready_replicas int8,
    available_replicas int8,
    updated_replicas int8,
    spec jsonb,
    status jsonb,
    PRIMARY KEY (_cluster, uid)
);

CREATE TABLE public.nodes (
    _cluster text NOT NULL,
    name text,
    namespace text,
    uid text NOT NULL,
    api_version text,
    kind text,
    created timestamptz,
    resource_version text,
    generation int8,
    labels jsonb,
    annotations jsonb,
    owner_references jsonb,
    finalizers jsonb,
    deleted timestamptz,
    cpu_capacity float8,
    memory_capacity float8,
    ready bool,
    spec jsonb,
    status jsonb,
    PRIMARY KEY (_cluster, uid)
);

CREATE TABLE public.configmaps (
    _cluster text NOT NULL,
    name text,
    namespace text,
    uid text NOT NULL,
    api_version text,
    kind text,
    created timestamptz,
    resource_version text,
    generation int8,
    labels jsonb,
    annotations jsonb,
    owner_references jsonb,
    finalizers jsonb,
    deleted timestamptz,
    data jsonb,
    immutable bool,
    PRIMARY KEY (_cluster, uid)
);

-- ---------------------------------------------------------------------------------------------
-- kubepg's own schema
-- ---------------------------------------------------------------------------------------------

CREATE TABLE kubepg.clusters (
    name text NOT NULL,
    in_scope bool NOT NULL,
    reachable bool NOT NULL,
    resources int8,
    error text
);

CREATE TABLE kubepg.resources (
    table_name text NOT NULL,
    cluster text NOT NULL,
    "group" text NOT NULL,
    version text NOT NULL,
    kind text NOT NULL,
    namespaced bool NOT NULL,
    short_names text
);

CREATE VIEW kubepg.tables AS
SELECT v.cluster, v."table", v.mode, v.objects, v.bytes, v.synced, v.last_event, v.error
FROM (VALUES
    ('kind-a'::text, 'pods'::text, 'watch'::text, 3::int8, 4096::int8, true, '2024-01-01 00:10:00+00'::timestamptz, NULL::text)
) AS v(cluster, "table", mode, objects, bytes, synced, last_event, error);

CREATE VIEW kubepg.changes AS
SELECT v."time", v.cluster, v."table", v.type, v.namespace, v.name, v.uid, v.resource_version, v.object
FROM (VALUES
    ('2024-01-01 00:10:00+00'::timestamptz, 'kind-a'::text, 'pods'::text, 'ADDED'::text, 'shop'::text,
     'web-0'::text, 'uid-pod-1'::text, '1001'::text, '{"kind": "Pod"}'::jsonb)
) AS v("time", cluster, "table", type, namespace, name, uid, resource_version, object);

-- ---------------------------------------------------------------------------------------------
-- Rows: a few per table, the last of each NULL-heavy (only the key columns set)
-- ---------------------------------------------------------------------------------------------

INSERT INTO public.pods VALUES
 ('kind-a', 'web-0', 'shop', 'uid-pod-1', 'v1', 'Pod', '2024-01-01 00:00:00+00', '1001', NULL,
  '{"app": "web", "tier": "frontend"}', '{"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}',
  '[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c", "uid": "uid-rs-1", "controller": true}]',
  NULL, NULL, 'Running', 'node-1', '10.244.0.5', '172.18.0.2', '2024-01-01 00:00:05+00', true, 0, 'Burstable',
  'default', '[{"name": "web", "image": "nginx:1.25"}]', 0.1, 134217728,
  '{"containers": [{"name": "web", "image": "nginx:1.25"}], "nodeName": "node-1"}',
  '{"phase": "Running", "podIP": "10.244.0.5"}'),
 ('kind-a', 'web-1', 'shop', 'uid-pod-2', 'v1', 'Pod', '2024-01-01 06:30:00+00', '1002', NULL,
  '{"app": "web", "tier": "frontend"}', '{}', '[]', '[]', NULL, 'Pending', NULL, NULL, NULL, NULL, false, 3,
  'BestEffort', 'default', '[{"name": "web", "image": "nginx:1.25"}]', NULL, NULL,
  '{"containers": [{"name": "web", "image": "nginx:1.25"}]}', '{"phase": "Pending"}'),
 ('kind-b', 'db-0', 'data', 'uid-pod-3', 'v1', 'Pod', '2024-01-02 12:00:00+00', '2001', NULL,
  '{"app": "db"}', NULL, NULL, '["kubernetes.io/pvc-protection"]', '2024-01-03 00:00:00+00', 'Succeeded',
  'node-2', '10.244.1.7', '172.18.0.3', '2024-01-02 12:00:10+00', false, 12, 'Guaranteed', 'db',
  '[{"name": "postgres", "image": "postgres:15"}]', 2, 4294967296, '{}', '{"phase": "Succeeded"}'),
 ('kind-b', NULL, NULL, 'uid-pod-null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO public.deployments VALUES
 ('kind-a', 'web', 'shop', 'uid-dep-1', 'apps/v1', 'Deployment', '2023-12-31 23:59:00+00', '900', 2,
  '{"app": "web"}', '{"deployment.kubernetes.io/revision": "2"}', NULL, NULL, NULL, 2, 1, 1, 2,
  '{"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}',
  '{"replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 2}'),
 ('kind-b', 'db', 'data', 'uid-dep-2', 'apps/v1', 'Deployment', '2024-01-02 11:59:00+00', '1900', 1,
  '{"app": "db"}', '{}', '[]', '[]', NULL, 1, 1, 1, 1, '{"replicas": 1}', '{"replicas": 1, "readyReplicas": 1}'),
 ('kind-b', NULL, NULL, 'uid-dep-null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL);

INSERT INTO public.nodes VALUES
 ('kind-a', 'node-1', NULL, 'uid-node-1', 'v1', 'Node', '2023-12-31 00:00:00+00', '100', NULL,
  '{"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/control-plane": ""}', '{}', NULL, NULL, NULL,
  8, 16777216000, true, '{"podCIDR": "10.244.0.0/24"}', '{"capacity": {"cpu": "8", "memory": "16384000Ki"}}'),
 ('kind-b', 'node-2', NULL, 'uid-node-2', 'v1', 'Node', '2023-12-31 00:05:00+00', '200', NULL,
  '{"kubernetes.io/hostname": "node-2"}', '{}', NULL, NULL, NULL, 4, 8388608000, false, '{}', '{}'),
 ('kind-b', NULL, NULL, 'uid-node-null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL);

INSERT INTO public.configmaps VALUES
 ('kind-a', 'kube-root-ca.crt', 'shop', 'uid-cm-1', 'v1', 'ConfigMap', '2024-01-01 00:00:00+00', '1000', NULL,
  '{}', '{"kubernetes.io/description": "root CA"}', NULL, NULL, NULL,
  '{"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}', NULL),
 ('kind-a', 'web-config', 'shop', 'uid-cm-2', 'v1', 'ConfigMap', '2024-01-01 00:00:01+00', '1003', NULL,
  '{"app": "web"}', '{}', NULL, NULL, NULL, '{"LOG_LEVEL": "info", "WORKERS": "4"}', true),
 ('kind-b', NULL, NULL, 'uid-cm-null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO kubepg.clusters VALUES
 ('kind-a', true, true, 4, NULL),
 ('kind-b', true, true, 4, NULL);

INSERT INTO kubepg.resources VALUES
 ('pods', 'kind-a', '', 'v1', 'Pod', true, 'po'),
 ('pods', 'kind-b', '', 'v1', 'Pod', true, 'po'),
 ('deployments', 'kind-a', 'apps', 'v1', 'Deployment', true, 'deploy'),
 ('deployments', 'kind-b', 'apps', 'v1', 'Deployment', true, 'deploy'),
 ('nodes', 'kind-a', '', 'v1', 'Node', false, 'no'),
 ('nodes', 'kind-b', '', 'v1', 'Node', false, 'no'),
 ('configmaps', 'kind-a', '', 'v1', 'ConfigMap', true, 'cm'),
 ('configmaps', 'kind-b', '', 'v1', 'ConfigMap', true, 'cm');

-- ---------------------------------------------------------------------------------------------
-- Read-only access for the login role the checks connect as
-- ---------------------------------------------------------------------------------------------

GRANT CONNECT ON DATABASE kubepg TO kubepg;
GRANT USAGE ON SCHEMA public, kubepg TO kubepg;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO kubepg;
GRANT SELECT ON ALL TABLES IN SCHEMA kubepg TO kubepg;

ANALYZE;
