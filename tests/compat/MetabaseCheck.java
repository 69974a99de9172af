// Metabase's PostgreSQL sync and queries against a PostgreSQL endpoint, replayed through pgjdbc
// (Metabase's own driver) without running Metabase: its connection options, the JDBC
// DatabaseMetaData calls of its shared sync code, and its own SQL text.
//
// Sources (metabase/metabase):
//  * src/metabase/driver/postgres.clj
//      driver/db-default-timezone            "show timezone;"
//      sql-jdbc.execute/set-timezone-sql     "SET SESSION TIMEZONE TO %s;"
//      enum-types                            SELECT nspname, typname FROM pg_type ... pg_enum
//      get-tables-sql (describe-database*)   pg_class/pg_namespace/pg_description/pg_stat_user_tables
//      describe-fields-sql                   information_schema.columns UNION ALL pg_attribute (matviews)
//      describe-fks-sql                      pg_constraint x pg_class x pg_namespace x pg_attribute
//      describe-indexes-sql                  _pg_expandarray(indkey), pg_get_indexdef (see below)
//      current-user-table-privileges         the `with table_privileges as (...)` query, verbatim
//      json-query / format-json-query        (col#>> array[?]::text[])::type
//      date-trunc                            DATE_TRUNC('day', col)
//  * src/metabase/driver/sql_jdbc/execute.clj    do-with-connection-with-options ->
//      set-best-transaction-level! (setTransactionIsolation READ_UNCOMMITTED), set-time-zone-if-supported!,
//      setReadOnly, setAutoCommit, setHoldability(CLOSE_CURSORS_AT_COMMIT); statements
//      TYPE_FORWARD_ONLY/CONCUR_READ_ONLY/CLOSE_CURSORS_AT_COMMIT with setFetchDirection(FETCH_FORWARD)
//  * src/metabase/driver/sql_jdbc/sync/dbms_version.clj   getDatabaseProductName/Version/Major/Minor
//  * src/metabase/driver/sql_jdbc/sync/describe_database.clj  all-schemas (getSchemas, TABLE_SCHEM),
//      filtered-syncable-schemas, simple-select-probe-query ("SELECT TRUE AS "_" FROM t WHERE 1 <> 1 LIMIT 0"),
//      db-tables (getTables with Metabase's 7 table types)
//  * src/metabase/driver/sql_jdbc/sync/describe_table.clj  jdbc-fields-metadata (getColumns: COLUMN_DEF,
//      NULLABLE, IS_AUTOINCREMENT, COLUMN_NAME, TYPE_NAME, REMARKS), get-table-pks (getPrimaryKeys),
//      describe-table-fks* (getImportedKeys), describe-table-indexes (getIndexInfo), fallback-metadata-query
//      (SELECT * ... WHERE 1 <> 1 LIMIT 0 + ResultSetMetaData), sample-json-row-honey-sql (JSON unfolding)
//  The SQL text of get-tables, describe-fields, describe-fks and the field fingerprint queries is
//  HoneySQL's output as Metabase 0.62 sends it (captured from a Metabase sync, with its bound
//  parameter values); describe-indexes and the JSON sample are compiled by hand from the HoneySQL
//  forms above with the same rules (ANSI quoting, upper-case function names, inline values).
//
//   java -cp /usr/share/java/postgresql.jar MetabaseCheck.java [DSN]
// DSN: postgresql://user:password@host:port/dbname[?params], or COMPAT_DSN, or
// --host/--port/--dbname/--user/--password. Prints `ok NAME` / `FAIL NAME: why` per check and
// `metabase: N passed, N failed`; exits 1 on any failure.

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.time.OffsetDateTime;
import java.util.*;

public class MetabaseCheck {
    static final String CLIENT = "metabase";
    static int passed, failed;
    static String url, user, password, dbname;
    static Connection conn;

    interface Body { void run() throws Exception; }

    static void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("ok " + CLIENT + "." + name);
        } catch (Throwable t) {
            failed++;
            String why = (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
            System.out.println("FAIL " + CLIENT + "." + name + ": " + (why.length() > 800 ? why.substring(0, 800) : why));
            if (System.getenv("COMPAT_VERBOSE") != null) t.printStackTrace();
        }
        System.out.flush();
    }

    static void expect(boolean cond, String why) {
        if (!cond) throw new AssertionError(why);
    }

    static void expectEq(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) throw new AssertionError(what + ": got " + got + ", want " + want);
    }

    static void parseTarget(String[] args) throws Exception {
        String dsn = System.getenv("COMPAT_DSN");
        String host = "127.0.0.1", port = "5432", query = "";
        dbname = "kubepg"; user = "kubepg"; password = "";
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].startsWith("--") && i + 1 < args.length) opts.put(args[i].substring(2), args[++i]);
            else dsn = args[i];
        }
        if (dsn != null) {
            URI u = new URI(dsn);
            if (u.getHost() != null) host = u.getHost();
            if (u.getPort() > 0) port = String.valueOf(u.getPort());
            if (u.getRawPath() != null && u.getRawPath().length() > 1) dbname = URLDecoder.decode(u.getRawPath().substring(1), StandardCharsets.UTF_8);
            if (u.getRawUserInfo() != null) {
                String[] ui = u.getRawUserInfo().split(":", 2);
                user = URLDecoder.decode(ui[0], StandardCharsets.UTF_8);
                if (ui.length > 1) password = URLDecoder.decode(ui[1], StandardCharsets.UTF_8);
            }
            if (u.getRawQuery() != null) query = u.getRawQuery();
        }
        host = opts.getOrDefault("host", host);
        port = opts.getOrDefault("port", port);
        dbname = opts.getOrDefault("dbname", dbname);
        user = opts.getOrDefault("user", user);
        password = opts.getOrDefault("password", password);
        url = "jdbc:postgresql://" + host + ":" + port + "/" + dbname + (query.isEmpty() ? "" : "?" + query);
    }

    /** A connection set up as Metabase's do-with-connection-with-options leaves it for sync. */
    static Connection conn() throws SQLException {
        if (conn == null || conn.isClosed() || !conn.isValid(5)) {
            Properties p = new Properties();
            p.setProperty("user", user);
            p.setProperty("password", password);
            p.setProperty("ApplicationName", "Metabase (kubepg compat)");
            conn = DriverManager.getConnection(url, p);
            conn.setTransactionIsolation(Connection.TRANSACTION_READ_UNCOMMITTED); // set-best-transaction-level!
            conn.setReadOnly(true);
            conn.setAutoCommit(true);
            conn.setHoldability(ResultSet.CLOSE_CURSORS_AT_COMMIT);
        }
        return conn;
    }

    /** sql-jdbc.execute/prepared-statement: forward-only, read-only, close at commit, fetch forward. */
    static PreparedStatement prepare(String sql, Object... params) throws SQLException {
        PreparedStatement ps = conn().prepareStatement(sql, ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY,
            ResultSet.CLOSE_CURSORS_AT_COMMIT);
        ps.setFetchDirection(ResultSet.FETCH_FORWARD);
        for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
        return ps;
    }

    static List<String> labels(ResultSet rs) throws SQLException {
        ResultSetMetaData m = rs.getMetaData();
        List<String> out = new ArrayList<>();
        for (int i = 1; i <= m.getColumnCount(); i++) out.add(m.getColumnLabel(i));
        return out;
    }

    static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
        List<String> cols = labels(rs);
        List<Map<String, Object>> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                Map<String, Object> row = new LinkedHashMap<>();
                for (int i = 0; i < cols.size(); i++) row.put(cols.get(i), rs.getObject(i + 1));
                out.add(row);
            }
        }
        return out;
    }

    /** Runs SQL with parameters; asserts its column labels; returns its rows. */
    static List<Map<String, Object>> query(String sql, List<String> wantLabels, Object... params) throws SQLException {
        try (PreparedStatement ps = prepare(sql, params)) {
            ResultSet rs = ps.executeQuery();
            List<String> got = labels(rs);
            if (wantLabels != null && !got.equals(wantLabels)) {
                rs.close();
                throw new AssertionError("columns: got " + got + ", want " + wantLabels);
            }
            return rows(rs);
        }
    }

    static List<Object> col(List<Map<String, Object>> rows, String name) {
        List<Object> out = new ArrayList<>();
        for (Map<String, Object> r : rows) out.add(r.get(name));
        return out;
    }

    static final List<String> POD_COLUMNS = List.of(
        "_cluster", "name", "namespace", "uid", "api_version", "kind", "created", "resource_version",
        "generation", "labels", "annotations", "owner_references", "finalizers", "deleted",
        "phase", "node_name", "pod_ip", "host_ip", "qos_class", "ready", "restarts", "containers",
        "cpu_request", "memory_request", "cpu_limit", "memory_limit", "start_time", "service_account",
        "restart_policy", "images", "spec", "status");
    static final Set<String> RESOURCE_TABLES = Set.of("pods", "deployments", "nodes", "configmaps");

    // postgres.clj current-user-table-privileges, verbatim (joined with "\n" as Metabase does).
    static final String TABLE_PRIVILEGES = String.join("\n",
        "with table_privileges as (",
        " select",
        "   NULL as role,",
        "   t.schemaname as schema,",
        "   t.objectname as table,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'update') as update,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'select') as select,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'insert') as insert,",
        "   pg_catalog.has_table_privilege(     current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'delete') as delete",
        " from (",
        "   select schemaname, tablename as objectname from pg_catalog.pg_tables",
        "   union",
        "   select schemaname, viewname as objectname from pg_catalog.pg_views",
        "   union",
        "   select schemaname, matviewname as objectname from pg_catalog.pg_matviews",
        " ) t",
        " where t.schemaname !~ '^pg_'",
        "   and t.schemaname <> 'information_schema'",
        "   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')",
        ")",
        "select t.*",
        "from table_privileges t");

    // postgres.clj get-tables-sql, as HoneySQL renders it (schemas = [public]).
    static final String GET_TABLES =
        "SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE \"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS \"type\", \"d\".\"description\" AS \"description\", NULLIF(\"stat\".\"n_live_tup\", ?) AS \"estimated_row_count\" FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = \"d\".\"objoid\") AND (\"d\".\"objsubid\" = ?) AND (\"d\".\"classoid\" = 'pg_class'::regclass) LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON (\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = \"stat\".\"relname\") WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND (\"n\".\"nspname\" !~ ?) AND (\"n\".\"nspname\" <> ?) AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN (?)) ORDER BY \"type\" ASC, \"schema\" ASC, \"name\" ASC";

    // postgres.clj describe-fields-sql, as HoneySQL renders it (schema-names = [public]).
    static final String DESCRIBE_FIELDS =
        "SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"c\".\"udt_name\") ELSE FORMAT('\"%s\".\"%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS \"database-type\", \"c\".\"ordinal_position\" - 1 AS \"database-position\", \"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", \"pk\".\"column_name\" IS NOT NULL AS \"pk?\", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", ((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND (\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO')) AS \"database-required\", \"column_default\" AS \"database-default\", ((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\", \"is_generated\" = ? AS \"database-is-generated\", \"is_nullable\" = 'YES' AS \"database-is-nullable\" FROM \"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", \"tc\".\"table_name\", \"kc\".\"column_name\" FROM \"information_schema\".\"table_constraints\" AS \"tc\" INNER JOIN \"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" = \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND (\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = \"pk\".\"column_name\") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"table_schema\" IN (?)) UNION ALL SELECT \"pa\".\"attname\" AS \"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"pt\".\"typname\") ELSE FORMAT('\"%s\".\"%s\"', \"ptn\".\"nspname\", \"pt\".\"typname\") END AS \"database-type\", \"pa\".\"attnum\" - 1 AS \"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS \"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS \"database-required\", NULL AS \"database-default\", FALSE AS \"database-is-auto-increment\", FALSE AS \"database-is-generated\", FALSE AS \"database-is-nullable\" FROM \"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN \"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = \"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON \"ptn\".\"oid\" = \"pt\".\"typnamespace\" WHERE (\"pc\".\"relkind\" = 'm') AND (\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (?)) ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC";

    // postgres.clj describe-fks-sql, as HoneySQL renders it (schema-names = [public]).
    static final String DESCRIBE_FKS =
        "SELECT \"fk_ns\".\"nspname\" AS \"fk-table-schema\", \"fk_table\".\"relname\" AS \"fk-table-name\", \"fk_column\".\"attname\" AS \"fk-column-name\", \"pk_ns\".\"nspname\" AS \"pk-table-schema\", \"pk_table\".\"relname\" AS \"pk-table-name\", \"pk_column\".\"attname\" AS \"pk-column-name\" FROM \"pg_constraint\" AS \"c\" INNER JOIN \"pg_class\" AS \"fk_table\" ON \"c\".\"conrelid\" = \"fk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"fk_ns\" ON \"c\".\"connamespace\" = \"fk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"fk_column\" ON \"c\".\"conrelid\" = \"fk_column\".\"attrelid\" INNER JOIN \"pg_class\" AS \"pk_table\" ON \"c\".\"confrelid\" = \"pk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"pk_ns\" ON \"pk_table\".\"relnamespace\" = \"pk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"pk_column\" ON \"c\".\"confrelid\" = \"pk_column\".\"attrelid\" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"contype\" = 'f'::char) AND (\"fk_column\".\"attnum\" = ANY(c.conkey)) AND (\"pk_column\".\"attnum\" = ANY(c.confkey)) AND (\"fk_ns\".\"nspname\" IN (?)) ORDER BY \"fk-table-schema\" ASC, \"fk-table-name\" ASC";

    // postgres.clj describe-indexes-sql, compiled by hand from its HoneySQL form (schema-names = [public]).
    static final String DESCRIBE_INDEXES =
        "SELECT \"tmp\".\"table-schema\", \"tmp\".\"table-name\", TRIM(BOTH '\"' FROM PG_CATALOG.PG_GET_INDEXDEF(\"tmp\".\"ci_oid\", \"tmp\".\"pos\", FALSE)) AS \"field-name\" FROM (SELECT \"n\".\"nspname\" AS \"table-schema\", \"ct\".\"relname\" AS \"table-name\", \"ci\".\"oid\" AS \"ci_oid\", (INFORMATION_SCHEMA._PG_EXPANDARRAY(\"i\".\"indkey\")).\"n\" AS \"pos\" FROM \"pg_catalog\".\"pg_class\" AS \"ct\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"ct\".\"relnamespace\" = \"n\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_index\" AS \"i\" ON \"ct\".\"oid\" = \"i\".\"indrelid\" INNER JOIN \"pg_catalog\".\"pg_class\" AS \"ci\" ON \"ci\".\"oid\" = \"i\".\"indexrelid\" WHERE (PG_CATALOG.PG_GET_EXPR(\"i\".\"indpred\", \"i\".\"indrelid\") IS NULL) AND n.nspname !~ '^information_schema|catalog_history|pg_' AND (\"n\".\"nspname\" IN (?))) AS \"tmp\" WHERE \"tmp\".\"pos\" = 1";

    public static void main(String[] args) throws Exception {
        parseTarget(args);

        check("connection_options", () -> {
            Connection c = conn();
            expectEq(c.getTransactionIsolation(), Connection.TRANSACTION_READ_UNCOMMITTED, "isolation");
            try (Statement st = c.createStatement()) {
                st.execute("SET SESSION TIMEZONE TO 'UTC';"); // set-time-zone-if-supported!, report timezone UTC
            }
            try (PreparedStatement ps = prepare("SELECT 1"); ResultSet rs = ps.executeQuery()) {
                expect(rs.next() && rs.getInt(1) == 1, "SELECT 1");
            }
        });

        check("session_statements", () -> {
            // What a Metabase 0.62 sync sent on a fresh pooled connection (c3p0 test query, pgjdbc
            // 42.7's getTransactionIsolation/getCatalog, set-best-transaction-level!), in order.
            try (Statement st = conn().createStatement()) {
                st.execute("SET application_name = 'Metabase v0.62.1.5 [kubepg-compat]';");
                try (ResultSet rs = st.executeQuery("SELECT 1;")) { expect(rs.next() && rs.getInt(1) == 1, "SELECT 1"); }
                try (ResultSet rs = st.executeQuery("SHOW TRANSACTION ISOLATION LEVEL;")) {
                    expect(rs.next(), "no isolation level");
                    expect(rs.getString(1).startsWith("read "), "isolation " + rs.getString(1));
                }
                try (ResultSet rs = st.executeQuery("select current_catalog;")) {
                    expect(rs.next(), "no current_catalog");
                    expectEq(rs.getString(1), dbname, "current_catalog");
                }
                st.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;");
                st.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;");
                try (ResultSet rs = st.executeQuery("SHOW TRANSACTION ISOLATION LEVEL;")) {
                    expect(rs.next() && "read committed".equals(rs.getString(1)), "isolation after SET SESSION CHARACTERISTICS");
                }
            }
        });

        check("dbms_version", () -> {
            DatabaseMetaData m = conn().getMetaData();
            expectEq(m.getDatabaseProductName(), "PostgreSQL", "flavor");
            expect(m.getDatabaseProductVersion() != null, "version");
            expect(m.getDatabaseMajorVersion() >= 9 && m.getDatabaseMinorVersion() >= 0, "semantic-version");
        });

        check("db_default_timezone", () -> {
            try (PreparedStatement ps = conn().prepareStatement("show timezone;"); ResultSet rs = ps.executeQuery()) {
                expect(rs.next(), "no row");
                expect(rs.getString(1) != null && !rs.getString(1).isEmpty(), "timezone " + rs.getString(1));
            }
        });

        check("syncable_schemas.getSchemas", () -> {
            List<Object> schemas = new ArrayList<>();
            try (ResultSet rs = conn().getMetaData().getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            schemas.removeAll(List.of("information_schema", "pg_catalog")); // postgres excluded-schemas
            expect(schemas.contains("public") && schemas.contains("kubepg"), "schemas " + schemas);
        });

        check("current_user_table_privileges", () -> {
            List<Map<String, Object>> r = query(TABLE_PRIVILEGES,
                List.of("role", "schema", "table", "update", "select", "insert", "delete"));
            Map<String, Map<String, Object>> by = new HashMap<>();
            for (Map<String, Object> row : r) by.put(row.get("schema") + "." + row.get("table"), row);
            for (String t : List.of("public.pods", "public.nodes", "kubepg.clusters", "kubepg.tables")) {
                expect(by.containsKey(t), "no privileges row for " + t);
                expectEq(by.get(t).get("select"), true, "select on " + t);
                expectEq(by.get(t).get("update"), false, "update on " + t);
            }
        });

        check("describe_database.get_tables", () -> {
            List<Map<String, Object>> r = query(GET_TABLES, List.of("schema", "name", "type", "description", "estimated_row_count"),
                0L, 0, "^pg_", "information_schema", "public");
            Set<Object> names = new HashSet<>(col(r, "name"));
            expect(names.containsAll(RESOURCE_TABLES), "tables " + names);
            for (Map<String, Object> row : r) expectEq(row.get("type"), "TABLE", "type of " + row.get("name"));
        });

        check("describe_database.get_tables.kubepg", () -> {
            List<Map<String, Object>> r = query(GET_TABLES, List.of("schema", "name", "type", "description", "estimated_row_count"),
                0L, 0, "^pg_", "information_schema", "kubepg");
            Map<Object, Object> types = new HashMap<>();
            for (Map<String, Object> row : r) types.put(row.get("name"), row.get("type"));
            expectEq(types, Map.of("clusters", "TABLE", "resources", "TABLE", "tables", "VIEW", "changes", "VIEW"), "kubepg relations");
        });

        check("enum_types", () -> {
            List<Map<String, Object>> r = query("SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)",
                List.of("nspname", "typname"));
            expectEq(r.size(), 0, "enum types");
        });

        check("describe_fields", () -> {
            List<Map<String, Object>> r = query(DESCRIBE_FIELDS, List.of("name", "database-type", "database-position", "table-schema",
                "table-name", "pk?", "field-comment", "database-required", "database-default", "database-is-auto-increment",
                "database-is-generated", "database-is-nullable"), "ALWAYS", "public", "public");
            List<Object> pods = new ArrayList<>();
            Map<Object, Map<String, Object>> by = new HashMap<>();
            for (Map<String, Object> row : r) {
                if ("pods".equals(row.get("table-name"))) {
                    pods.add(row.get("name"));
                    by.put(row.get("name"), row);
                }
            }
            expectEq(pods, POD_COLUMNS, "pods fields in database-position order");
            Object[][] want = {{"_cluster", "text"}, {"uid", "text"}, {"created", "timestamptz"},
                {"labels", "jsonb"}, {"restarts", "int8"}, {"ready", "bool"}, {"cpu_request", "float8"}};
            for (Object[] w : want) expectEq(by.get(w[0]).get("database-type"), w[1], "database-type of " + w[0]);
            // "pk?" comes from information_schema.table_constraints, which PostgreSQL shows only to a
            // role with more than SELECT on the table: a read-only role gets false there. Only its
            // type is asserted (kubepg may well answer true).
            for (Map<String, Object> row : by.values()) expect(row.get("pk?") instanceof Boolean, "pk? of " + row.get("name") + ": " + row.get("pk?"));
            expectEq(by.get("created").get("pk?"), false, "pk? of created");
            expectEq(((Number) by.get("_cluster").get("database-position")).intValue(), 0, "database-position of _cluster");
            expectEq(by.get("uid").get("database-required"), true, "database-required of uid");
            expectEq(by.get("name").get("database-is-nullable"), true, "database-is-nullable of name");
            expectEq(by.get("name").get("database-is-auto-increment"), false, "database-is-auto-increment");
        });

        check("describe_fks", () -> {
            List<Map<String, Object>> r = query(DESCRIBE_FKS, List.of("fk-table-schema", "fk-table-name", "fk-column-name",
                "pk-table-schema", "pk-table-name", "pk-column-name"), "public");
            expectEq(r.size(), 0, "foreign keys");
        });

        check("describe_indexes", () -> {
            List<Map<String, Object>> r = query(DESCRIBE_INDEXES, List.of("table-schema", "table-name", "field-name"), "public");
            Set<String> got = new HashSet<>();
            for (Map<String, Object> row : r) got.add(row.get("table-name") + "." + row.get("field-name"));
            for (String t : RESOURCE_TABLES) expect(got.contains(t + "._cluster"), "no index led by _cluster on " + t + ": " + got);
        });

        check("jdbc.getTables", () -> {
            Set<String> got = new HashSet<>();
            try (ResultSet rs = conn().getMetaData().getTables(null, "public", "%", new String[] {"TABLE", "PARTITIONED TABLE", "VIEW",
                    "FOREIGN TABLE", "MATERIALIZED VIEW", "EXTERNAL TABLE", "DYNAMIC_TABLE"})) {
                while (rs.next()) {
                    got.add(rs.getString("TABLE_NAME"));
                    rs.getString("TABLE_SCHEM");
                    rs.getString("TABLE_TYPE");
                    rs.getString("REMARKS");
                }
            }
            expect(got.containsAll(RESOURCE_TABLES), "tables " + got);
        });

        check("jdbc.getColumns", () -> {
            List<String> names = new ArrayList<>();
            try (ResultSet rs = conn().getMetaData().getColumns(null, "public", "pods", null)) {
                while (rs.next()) {
                    names.add(rs.getString("COLUMN_NAME"));
                    rs.getString("COLUMN_DEF");
                    rs.getInt("NULLABLE");
                    expectEq(rs.getString("IS_AUTOINCREMENT"), "NO", "IS_AUTOINCREMENT");
                    expect(rs.getString("TYPE_NAME") != null && !rs.getString("TYPE_NAME").isBlank(), "blank TYPE_NAME");
                    rs.getString("REMARKS");
                }
            }
            expectEq(names, POD_COLUMNS, "COLUMN_NAME");
        });

        check("jdbc.getPrimaryKeys", () -> {
            List<String> pks = new ArrayList<>();
            try (ResultSet rs = conn().getMetaData().getPrimaryKeys(null, "public", "pods")) {
                while (rs.next()) pks.add(rs.getString("COLUMN_NAME"));
            }
            expectEq(pks, List.of("_cluster", "uid"), "primary key");
        });

        check("jdbc.getImportedKeys", () -> {
            int n = 0;
            try (ResultSet rs = conn().getMetaData().getImportedKeys(null, "public", "pods")) {
                while (rs.next()) {
                    n++;
                    rs.getString("FKCOLUMN_NAME");
                    rs.getString("PKTABLE_NAME");
                    rs.getString("PKTABLE_SCHEM");
                    rs.getString("PKCOLUMN_NAME");
                }
            }
            expectEq(n, 0, "foreign keys");
        });

        check("jdbc.getIndexInfo", () -> {
            Map<String, List<String>> byIndex = new HashMap<>();
            try (ResultSet rs = conn().getMetaData().getIndexInfo(null, "public", "pods", false, false)) {
                while (rs.next()) {
                    if (rs.getString("FILTER_CONDITION") != null || rs.getString("INDEX_NAME") == null) continue;
                    byIndex.computeIfAbsent(rs.getString("INDEX_NAME"), k -> new ArrayList<>()).add(rs.getString("COLUMN_NAME"));
                    rs.getInt("ORDINAL_POSITION");
                }
            }
            expect(byIndex.values().contains(List.of("_cluster", "uid")), "indexes " + byIndex);
        });

        // pgjdbc 42.7 (the driver Metabase ships) sends newer SQL than Debian's 42.5: its text as a
        // Metabase 0.62 sync sent it, with the same bound values.
        check("pgjdbc42.7.getColumns", () -> {
            List<Map<String, Object>> r = query("SELECT * FROM (SELECT current_database() AS current_database, n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull  OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE ? AND c.relname LIKE ?) c WHERE true  ORDER BY nspname,c.relname,attnum",
                List.of("current_database", "nspname", "relname", "attname", "atttypid", "attnotnull", "atttypmod", "attlen", "typtypmod",
                    "attnum", "attidentity", "attgenerated", "adsrc", "description", "typbasetype", "typtype"), "public", "pods");
            expectEq(col(r, "attname"), POD_COLUMNS, "attname");
            expectEq(((Number) r.get(0).get("attnum")).intValue(), 1, "attnum");
            expectEq(r.get(3).get("attnotnull"), true, "attnotnull of uid");
        });

        check("pgjdbc42.7.getPrimaryKeys", () -> {
            List<Map<String, Object>> r = query("SELECT        result.TABLE_CAT AS \"TABLE_CAT\",        result.TABLE_SCHEM AS \"TABLE_SCHEM\",        result.TABLE_NAME AS \"TABLE_NAME\",        result.COLUMN_NAME AS \"COLUMN_NAME\",        result.KEY_SEQ AS \"KEY_SEQ\",        result.PK_NAME AS \"PK_NAME\"FROM      (SELECT current_database() AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM, i.indnkeyatts as KEY_COUNT FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = ? AND ct.relname = ? AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x AND result.KEY_SEQ <= KEY_COUNT  ORDER BY result.table_name, result.pk_name, result.key_seq",
                List.of("TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ", "PK_NAME"), "public", "pods");
            expectEq(col(r, "COLUMN_NAME"), List.of("_cluster", "uid"), "primary key columns");
        });

        check("pgjdbc42.7.fetchFieldMetaData", () -> {
            // PgResultSetMetaData.fetchFieldMetaData for columns 2..4 of a result from pods (table OID from RowDescription)
            long oid;
            try (PreparedStatement ps = prepare("SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'pods'");
                 ResultSet rs = ps.executeQuery()) {
                expect(rs.next(), "no oid of pods");
                oid = rs.getLong(1);
            }
            List<Map<String, Object>> r = query("SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT " + oid + " AS oid , 2 AS attnum UNION ALL SELECT " + oid + ", 3 UNION ALL SELECT " + oid + ", 4) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum) where c.oid in (" + oid + ")",
                null);
            List<String> got = new ArrayList<>();
            for (Map<String, Object> row : r) got.add(row.get("attnum") + ":" + row.get("attname") + "@" + row.get("nspname") + "." + row.get("relname"));
            Collections.sort(got);
            expectEq(got, List.of("2:name@public.pods", "3:namespace@public.pods", "4:uid@public.pods"), "field metadata");
        });

        check("select_probe", () -> {
            try (PreparedStatement ps = prepare("SELECT TRUE AS \"_\" FROM \"public\".\"pods\" WHERE 1 <> 1 LIMIT 0")) {
                ps.setQueryTimeout(15);
                ps.execute();
            }
        });

        check("fallback_metadata_query", () -> {
            try (PreparedStatement ps = prepare("SELECT * FROM \"public\".\"pods\" WHERE 1 <> 1 LIMIT 0"); ResultSet rs = ps.executeQuery()) {
                ResultSetMetaData m = rs.getMetaData();
                List<String> names = new ArrayList<>();
                for (int i = 1; i <= m.getColumnCount(); i++) {
                    names.add(m.getColumnName(i));
                    expect(!m.getColumnTypeName(i).isBlank(), "blank type of " + m.getColumnName(i));
                    expectEq(m.isAutoIncrement(i), false, "isAutoIncrement of " + m.getColumnName(i));
                }
                expectEq(names, POD_COLUMNS, "columns");
                expect(!rs.next(), "rows from LIMIT 0");
            }
        });

        check("nested_field_columns.sample", () -> {
            // describe_table.clj sample-json-row-honey-sql with pks: first and last 5000 rows by pk
            String sql = "SELECT CASE WHEN 50000 < LENGTH(CAST(\"public\".\"pods\".\"labels\" AS TEXT)) THEN NULL ELSE \"public\".\"pods\".\"labels\" END AS \"labels\", "
                + "CASE WHEN 50000 < LENGTH(CAST(\"public\".\"pods\".\"status\" AS TEXT)) THEN NULL ELSE \"public\".\"pods\".\"status\" END AS \"status\" "
                + "FROM \"public\".\"pods\" INNER JOIN ((SELECT \"public\".\"pods\".\"_cluster\", \"public\".\"pods\".\"uid\" FROM \"public\".\"pods\" "
                + "ORDER BY \"public\".\"pods\".\"_cluster\" ASC, \"public\".\"pods\".\"uid\" ASC LIMIT 5000) UNION ALL "
                + "(SELECT \"public\".\"pods\".\"_cluster\", \"public\".\"pods\".\"uid\" FROM \"public\".\"pods\" "
                + "ORDER BY \"public\".\"pods\".\"_cluster\" DESC, \"public\".\"pods\".\"uid\" DESC LIMIT 5000)) AS \"result\" "
                + "ON (\"result\".\"_cluster\" = \"public\".\"pods\".\"_cluster\") AND (\"result\".\"uid\" = \"public\".\"pods\".\"uid\")";
            List<Map<String, Object>> r = query(sql, List.of("labels", "status"));
            expectEq(r.size(), 8, "sampled rows (4 first + 4 last)");
            boolean sawJson = false;
            for (Map<String, Object> row : r) {
                Object v = row.get("labels");
                if (v != null) {
                    // read-column-thunk :postgres de-PGobjects the value
                    String s = v instanceof org.postgresql.util.PGobject ? ((org.postgresql.util.PGobject) v).getValue() : v.toString();
                    sawJson |= s.startsWith("{");
                }
            }
            expect(sawJson, "no JSON object in the sample");
        });

        check("fingerprint.text", () -> {
            List<Map<String, Object>> r = query("-- Metabase\nSELECT SUBSTRING(\"public\".\"pods\".\"name\", 1, 1234) AS \"substring1\", SUBSTRING(\"public\".\"pods\".\"phase\", 1, 1234) AS \"substring2\" FROM \"public\".\"pods\" LIMIT 10000",
                List.of("substring1", "substring2"));
            expectEq(r.size(), 4, "rows");
        });

        check("fingerprint.fields", () -> {
            List<Map<String, Object>> r = query("-- Metabase\nSELECT \"public\".\"pods\".\"restarts\" AS \"restarts\", \"public\".\"pods\".\"created\" AS \"created\", \"public\".\"pods\".\"cpu_request\" AS \"cpu_request\" FROM \"public\".\"pods\" LIMIT 10000",
                List.of("restarts", "created", "cpu_request"));
            expectEq(r.size(), 4, "rows");
        });

        check("question.count", () -> {
            List<Map<String, Object>> r = query("-- Metabase:: userID: 1 queryType: MBQL queryHash: 0\nSELECT COUNT(*) AS \"count\" FROM \"public\".\"pods\"", List.of("count"));
            expectEq(((Number) r.get(0).get("count")).longValue(), 4L, "count");
        });

        check("question.by_day", () -> {
            String sql = "-- Metabase:: userID: 1 queryType: MBQL queryHash: 0\nSELECT DATE_TRUNC('day', \"public\".\"pods\".\"created\") AS \"created\", COUNT(*) AS \"count\" FROM \"public\".\"pods\" "
                + "WHERE \"public\".\"pods\".\"created\" >= ? GROUP BY DATE_TRUNC('day', \"public\".\"pods\".\"created\") ORDER BY DATE_TRUNC('day', \"public\".\"pods\".\"created\") ASC";
            try (PreparedStatement ps = prepare(sql, OffsetDateTime.parse("2024-01-01T00:00:00Z")); ResultSet rs = ps.executeQuery()) {
                ResultSetMetaData m = rs.getMetaData();
                expectEq(m.getColumnTypeName(1), "timestamptz", "bucket type");
                List<String> days = new ArrayList<>();
                while (rs.next()) days.add(rs.getObject(1, OffsetDateTime.class).toInstant() + "=" + rs.getLong(2));
                expectEq(days, List.of("2024-01-01T00:00:00Z=2", "2024-01-02T00:00:00Z=1"), "buckets");
            }
        });

        check("question.json_field", () -> {
            String sql = "-- Metabase:: userID: 1 queryType: MBQL queryHash: 0\nSELECT (\"public\".\"pods\".\"labels\"#>> array[?]::text[])::text AS \"labels → app\", COUNT(*) AS \"count\" FROM \"public\".\"pods\" "
                + "GROUP BY \"labels → app\" ORDER BY \"labels → app\" ASC";
            List<Map<String, Object>> r = query(sql, List.of("labels → app", "count"), "app");
            List<String> got = new ArrayList<>();
            for (Map<String, Object> row : r) got.add(row.get("labels → app") + "=" + row.get("count"));
            expectEq(got, List.of("db=1", "web=2", "null=1"), "groups");
        });

        if (conn != null) conn.close();
        System.out.println(CLIENT + ": " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
