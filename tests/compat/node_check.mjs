// node-postgres (npm `pg` + `pg-cursor`, the real libraries, versions pinned in package.json)
// against a PostgreSQL endpoint: the type parsing of brianc/node-postgres packages/pg-types
// (int8 as a string by default, jsonb parsed, timestamptz to Date), a custom int8 parser, result
// field metadata (dataTypeID, tableID, columnID from RowDescription), parameters, a prepared
// named query (packages/pg/lib/query.js: Parse once, then Bind/Execute by name), the simple
// protocol with several statements, a pg-cursor read in batches (packages/pg-cursor/index.js:
// an unnamed portal, Execute with a row limit), pg.Pool, and an error's SQLSTATE.
//
//   node node_check.mjs [DSN]        (or COMPAT_DSN; run `npm ci` in tests/compat first)
// Prints `ok NAME` / `FAIL NAME: why` per check and `node-postgres: N passed, N failed`; exits 1
// on any failure.

import assert from "node:assert/strict";
import pg from "pg";
import Cursor from "pg-cursor";

const CLIENT = "node-postgres";
const dsn = process.argv[2] || process.env.COMPAT_DSN;
if (!dsn) {
  console.error("usage: node node_check.mjs postgresql://user:password@host:port/dbname");
  process.exit(2);
}

const POD_COLUMNS = [
  "_cluster", "name", "namespace", "uid", "api_version", "kind", "created", "resource_version",
  "generation", "labels", "annotations", "owner_references", "finalizers", "deleted",
  "phase", "node_name", "pod_ip", "host_ip", "qos_class", "ready", "restarts", "containers",
  "cpu_request", "memory_request", "cpu_limit", "memory_limit", "start_time", "service_account",
  "restart_policy", "images", "spec", "status",
];
const OID = { text: 25, int8: 20, bool: 16, float8: 701, timestamptz: 1184, jsonb: 3802 };

let passed = 0;
let failed = 0;

async function check(name, fn) {
  const client = new pg.Client({ connectionString: dsn, application_name: "kubepg-compat-node" });
  try {
    await client.connect();
    await fn(client);
    passed++;
    console.log(`ok ${CLIENT}.${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${CLIENT}.${name}: ${String(e && e.message ? e.message : e).replace(/\n/g, " | ").slice(0, 800)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

await check("connect", async (c) => {
  const r = await c.query("SELECT current_database() AS db, current_user AS usr");
  assert.equal(r.rows.length, 1);
  assert.equal(typeof r.rows[0].db, "string");
});

await check("int8.default_string", async (c) => {
  const r = await c.query("SELECT restarts, count(*) OVER () AS n FROM pods WHERE uid = 'uid-pod-3'");
  assert.equal(r.rows[0].restarts, "12", "int8 is parsed as a string by default");
  assert.equal(r.rows[0].n, "1");
  assert.equal(r.fields[0].dataTypeID, OID.int8);
});

await check("int8.custom_parser", async (c) => {
  const types = { getTypeParser: (oid, format) => (oid === OID.int8 ? (v) => BigInt(v) : pg.types.getTypeParser(oid, format)) };
  const r = await c.query({ text: "SELECT restarts FROM pods WHERE restarts IS NOT NULL ORDER BY restarts", types });
  assert.deepEqual(r.rows.map((x) => x.restarts), [0n, 0n, 3n, 12n]);
});

await check("jsonb.parsed", async (c) => {
  const r = await c.query("SELECT labels, owner_references, finalizers FROM pods WHERE uid = 'uid-pod-1'");
  assert.deepEqual(r.rows[0].labels, { app: "web", tier: "frontend" });
  assert.equal(r.rows[0].owner_references[0].kind, "ReplicaSet");
  assert.equal(r.rows[0].finalizers, null);
  assert.equal(r.fields[0].dataTypeID, OID.jsonb);
});

await check("timestamptz.Date", async (c) => {
  const r = await c.query("SELECT created, start_time FROM pods WHERE uid = 'uid-pod-1'");
  assert.ok(r.rows[0].created instanceof Date, `created is ${typeof r.rows[0].created}`);
  assert.equal(r.rows[0].created.getTime(), Date.UTC(2024, 0, 1, 0, 0, 0));
  assert.equal(r.rows[0].start_time.getTime(), Date.UTC(2024, 0, 1, 0, 0, 5));
  assert.equal(r.fields[0].dataTypeID, OID.timestamptz);
});

await check("bool_float8_int8", async (c) => {
  const r = await c.query("SELECT ready, cpu_request, memory_request FROM pods WHERE uid = 'uid-pod-3'");
  assert.equal(r.rows[0].ready, false);
  assert.equal(r.rows[0].cpu_request, 2);
  // int8 comes as a string: node-postgres's default, as wide as a JavaScript number cannot be.
  assert.equal(r.rows[0].memory_request, "4294967296");
});

await check("fields_metadata", async (c) => {
  const r = await c.query("SELECT * FROM pods WHERE false");
  assert.deepEqual(r.fields.map((f) => f.name), POD_COLUMNS);
  const by = Object.fromEntries(r.fields.map((f) => [f.name, f]));
  for (const [col, t] of [["_cluster", "text"], ["created", "timestamptz"], ["generation", "int8"], ["labels", "jsonb"], ["ready", "bool"], ["cpu_request", "float8"]]) {
    assert.equal(by[col].dataTypeID, OID[t], `dataTypeID of ${col}`);
  }
  const tableIDs = new Set(r.fields.map((f) => f.tableID));
  assert.equal(tableIDs.size, 1, "one table OID for all columns");
  assert.notEqual([...tableIDs][0], 0, "tableID of a table column is 0");
  assert.deepEqual(r.fields.map((f) => f.columnID), POD_COLUMNS.map((_, i) => i + 1), "columnID = attnum");
  const reg = await c.query("SELECT $1::oid::regclass::text AS t", [[...tableIDs][0]]);
  assert.equal(reg.rows[0].t, "pods", "tableID resolves to pods");
});

await check("null_row", async (c) => {
  const r = await c.query("SELECT * FROM pods WHERE uid = $1", ["uid-pod-null"]);
  // As _harness.py's SET_IN_EMPTY_POD: what a pod named only by its uid still has.
  const set = new Set(["_cluster", "name", "uid", "api_version", "kind", "restarts", "containers", "images"]);
  for (const [k, v] of Object.entries(r.rows[0])) if (!set.has(k)) assert.equal(v, null, k);
});

await check("params.text_timestamptz", async (c) => {
  const r = await c.query("SELECT name FROM pods WHERE namespace = $1 AND created >= $2 ORDER BY name", ["shop", new Date(Date.UTC(2024, 0, 1, 6))]);
  assert.deepEqual(r.rows.map((x) => x.name), ["web-1"]);
});

await check("params.jsonb", async (c) => {
  const r = await c.query("SELECT name FROM pods WHERE labels @> $1::jsonb ORDER BY name", [JSON.stringify({ app: "web" })]);
  assert.deepEqual(r.rows.map((x) => x.name), ["web-0", "web-1"]);
});

await check("prepared_named_query", async (c) => {
  const q = (ns) => ({ name: "compat-pods-by-namespace", text: "SELECT name, restarts FROM pods WHERE namespace = $1 ORDER BY name", values: [ns] });
  const a = await c.query(q("shop"));
  const b = await c.query(q("data")); // the named statement is reused: Bind/Execute only
  assert.deepEqual(a.rows.map((x) => x.name), ["web-0", "web-1"]);
  assert.deepEqual(b.rows, [{ name: "db-0", restarts: "12" }]);
});

await check("rowMode_array", async (c) => {
  const r = await c.query({ text: "SELECT name, phase FROM pods WHERE namespace = 'shop' ORDER BY name", rowMode: "array" });
  assert.deepEqual(r.rows, [["web-0", "Running"], ["web-1", "Pending"]]);
});

await check("simple_protocol.multi_statement", async (c) => {
  const r = await c.query("SELECT count(*) AS pods FROM pods; SELECT count(*) AS nodes FROM nodes");
  assert.ok(Array.isArray(r) && r.length === 2, "two results");
  assert.equal(r[0].rows[0].pods, "4");
  assert.equal(r[1].rows[0].nodes, "3");
});

await check("cursor.read", async (c) => {
  const cursor = c.query(new Cursor("SELECT uid FROM pods ORDER BY uid"));
  const first = await cursor.read(2);
  const second = await cursor.read(2);
  const third = await cursor.read(2);
  await cursor.close();
  assert.deepEqual(first.map((r) => r.uid), ["uid-pod-1", "uid-pod-2"]);
  assert.deepEqual(second.map((r) => r.uid), ["uid-pod-3", "uid-pod-null"]);
  assert.deepEqual(third, []);
});

await check("cursor.params", async (c) => {
  const cursor = c.query(new Cursor("SELECT name, created FROM pods WHERE created >= $1 ORDER BY created", [new Date(Date.UTC(2024, 0, 1))]));
  const rows = await cursor.read(10);
  await cursor.close();
  assert.deepEqual(rows.map((r) => r.name), ["web-0", "web-1", "db-0"]);
  assert.ok(rows[0].created instanceof Date);
});

await check("pool", async () => {
  const pool = new pg.Pool({ connectionString: dsn, max: 2 });
  try {
    const [a, b] = await Promise.all([pool.query("SELECT count(*) AS n FROM pods"), pool.query("SELECT count(*) AS n FROM deployments")]);
    assert.equal(a.rows[0].n, "4");
    assert.equal(b.rows[0].n, "3");
  } finally {
    await pool.end();
  }
});

await check("error.sqlstate", async (c) => {
  await assert.rejects(c.query("SELECT * FROM no_such_table"), (e) => e.code === "42P01");
  const r = await c.query("SELECT 1 AS one"); // the connection is still usable
  assert.equal(r.rows[0].one, 1);
});

console.log(`${CLIENT}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
